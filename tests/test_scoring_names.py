"""An unknown scorer name: the closest names, not all of scikit-learn's, in API and CLI."""

from __future__ import annotations

import re

import pytest
from sklearn.metrics import get_scorer_names

from sklearn_depict import (
    CaptionToImage,
    cross_validate_importance,
    depict_diagnostics,
    depict_importance,
)
from sklearn_depict._engine.params import unknown_scorers_message
from sklearn_depict._sklearn_compat import InvalidParameterError
from sklearn_depict.cli.main import main


def _quoted(message):
    return re.findall(r"'([^']*)'", message)


@pytest.mark.parametrize(
    "function", [depict_importance, depict_diagnostics, cross_validate_importance]
)
@pytest.mark.parametrize("scoring", ["acuracy", ["roc_auc", "acuracy"]])
def test_unknown_scoring_names_the_closest_scorers(
    function, scoring, red_circle_clf, shapes_test, counting_generator
):
    table = shapes_test.concept_table.iloc[:20]
    y = table["red circle"].to_numpy()
    extra = {"X_images": shapes_test.images[:20]} if function is depict_diagnostics else {}
    with pytest.raises(InvalidParameterError) as info:
        function(red_circle_clf, table, y, generator=CaptionToImage(counting_generator),
                 scoring=scoring, **extra)
    message = str(info.value)
    assert f"The 'scoring' parameter of {function.__name__}" in message
    assert "did you mean 'accuracy'" in message
    assert "sklearn.metrics.get_scorer_names()" in message
    # A few suggestions, not the ~60 names scikit-learn's own check lists.
    assert "neg_mean_squared_error" not in message
    assert len(_quoted(message)) <= 5
    assert counting_generator.n_images == 0


def test_suggestions_cover_common_spellings():
    cases = {"f1-score": "f1", "ROC AUC": "roc_auc", "r2_score": "r2", "logloss": "neg_log_loss"}
    for given, expected in cases.items():
        message = unknown_scorers_message([given])
        assert f"did you mean '{expected}'" in message, message
    assert unknown_scorers_message(list(get_scorer_names())) is None
    # Nothing close: no guess, only where the names are.
    message = unknown_scorers_message(["zzzz"])
    assert "did you mean" not in message and "get_scorer_names()" in message


def test_the_cli_gives_the_same_message(tmp_path, capsys):
    args = [
        "explain", "--estimator", str(tmp_path / "clf.joblib"),
        "--concept-table", str(tmp_path / "table.csv"), "--generator", "shapes",
        "--output-dir", str(tmp_path / "out"), "--scoring", "roc_auc,acuracy",
    ]  # fmt: skip
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"--scoring: {unknown_scorers_message(['acuracy'])}" in err
    assert "neg_mean_squared_error" not in err
    assert not (tmp_path / "out").exists()
