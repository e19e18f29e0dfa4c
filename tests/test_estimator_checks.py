"""scikit-learn's common estimator checks over the package's estimators.

The estimators take what the method works on: concept tables with named
columns, images, and concept labels next to the class labels. The common
checks feed random numeric matrices with unnamed columns, so most of their
fitting checks cannot apply; those are listed below, per estimator, with the
reason. Everything else (cloning, parameters, repr, tags, unfitted errors,
pickling of the unfitted estimator...) runs and must pass.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_depict import (
    CaptionToImage,
    ChannelsFirst,
    ConceptBottleneckClassifier,
    ConceptCaptioner,
    FlattenImages,
    ShapesGenerator,
    make_shapes_dataset,
)
from sklearn_depict.datasets.digits import DigitsConceptDetector

# Checks that fit on a random numeric matrix, by the contract they check.
_FITS_ON_RANDOM_MATRICES = (
    "check_complex_data",
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_estimator_sparse_tag",
    "check_estimators_dtypes",
    "check_estimators_empty_data_messages",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
)
_TRANSFORMER_CHECKS = (
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformers_unfitted_stateless",
)
_CLASSIFIER_CHECKS = (
    "check_classifier_data_not_an_array",
    "check_classifiers_classes",
    "check_classifiers_one_label",
    "check_classifiers_regression_target",
    "check_classifiers_train",
    "check_dtype_object",
    "check_fit1d",
    "check_requires_y_none",
    "check_supervised_y_2d",
    "check_supervised_y_no_nan",
)

_UNNAMED = (
    "a caption names its concepts, so a numeric table needs column names (a "
    "DataFrame or concept_names=); the check's matrices have none and are refused"
)
_EXPECTED_FAILURES = {
    CaptionToImage: dict.fromkeys(
        (*_FITS_ON_RANDOM_MATRICES, *_TRANSFORMER_CHECKS, "check_dtype_object"), _UNNAMED
    ),
    ConceptCaptioner: dict.fromkeys(
        (*_FITS_ON_RANDOM_MATRICES, *_TRANSFORMER_CHECKS, "check_transformer_preserve_dtypes"),
        _UNNAMED,
    ),
    ConceptBottleneckClassifier: dict.fromkeys(
        (*_FITS_ON_RANDOM_MATRICES, *_CLASSIFIER_CHECKS, "check_decision_proba_consistency"),
        "fit needs concept_table=, the concept labels of the training images that train its "
        "concept layer; the checks call fit(X, y) and get a TypeError",
    ),
    DigitsConceptDetector: dict.fromkeys(
        (*_FITS_ON_RANDOM_MATRICES, *_CLASSIFIER_CHECKS),
        "fit learns from digit images and a concept table whose 'digit' column holds "
        "digit words; a numeric y has no such column",
    ),
}


def _estimators():
    estimators = [
        CaptionToImage(ShapesGenerator()),
        ConceptCaptioner(),
        ConceptBottleneckClassifier(),
        DigitsConceptDetector(),
        # Image transformers take (n, H, W, C) arrays: their tags say so, and the
        # checks then run only those that make no data.
        ChannelsFirst(),
        FlattenImages(),
    ]
    if importlib.util.find_spec("torch") is not None:
        import torch

        from sklearn_depict import TorchImageClassifier, TorchImageRegressor

        def tiny(n_outputs):
            return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(n_outputs))

        estimators += [TorchImageClassifier(tiny(2), classes=[0, 1]),
                       TorchImageRegressor(tiny(1))]
    return estimators


def _expected_failed_checks(estimator):
    return _EXPECTED_FAILURES.get(type(estimator), {})


@parametrize_with_checks(_estimators(), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_every_expected_failure_is_a_check_that_exists():
    """A renamed check would silently stop being expected to fail."""
    from sklearn.utils import estimator_checks

    names = {name for failures in _EXPECTED_FAILURES.values() for name in failures}
    assert {name for name in names if not hasattr(estimator_checks, name)} == set()


@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function",
                                    "concept_probabilities"])
def test_bottleneck_before_fit_raises_not_fitted(method):
    images = make_shapes_dataset(2, random_state=0).images
    with pytest.raises(NotFittedError, match="ConceptBottleneckClassifier"):
        getattr(ConceptBottleneckClassifier(), method)(images)


def test_bottleneck_predicts_after_fit():
    data = make_shapes_dataset(60, random_state=0)
    clf = ConceptBottleneckClassifier(weights=data.weights)
    clf.fit(data.images, data.target, concept_table=data.concept_table)
    assert np.isin(clf.predict(data.images[:5]), clf.classes_).all()
