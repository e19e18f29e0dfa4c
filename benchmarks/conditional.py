"""Benchmark: marginal and conditional DEPICT against their exact oracles.

What it measures
----------------
On correlated shapes (``make_shapes_dataset(dependence=...)``), for
``--models`` random concept-bottleneck models (head weights from U[0, 1], as
in the paper), it runs DEPICT with the in-process renderer
(:class:`~sklearn_depict.ShapesGenerator`) marginally and conditionally
(``conditioning="auto"``), and computes each one's exact oracle with
:func:`~sklearn_depict.concept_permutation_importance` on the true concept
table (the same permutations and strata, the model's head on the concepts).
It prints, per kind of permutation: the median and minimum Pearson r of each
model's DEPICT importances with its oracle, the top-1 agreement, and the
distinct images (the (caption, seed) pairs a run needs, median over models),
and the off-manifold rate of each kind of permutation
(:func:`~sklearn_depict.stats.manifold.off_manifold_rate`: the share of
permuted rows whose combination of concepts never occurs in the table).

Two fixed cases follow:

- *disagree*: the model uses "red circle" only, "blue square" tracks it
  (latent correlation 0.96, about 0.8 between the 0/1 columns) and is
  unused: conditional importance of "red circle" should be at most half the
  marginal one (printed for ``"auto"``
  and for conditioning on "blue square" alone);
- *agree*: the same model on independent concepts: both should be alike.

``--generator diffusion`` runs the same with the shipped shapes diffusion
model (:func:`~sklearn_depict.load_shapes_diffusion`) instead of the renderer,
through one image cache shared by every model and both kinds of permutation
(``--cache``, a temporary folder by default).

How to run
----------
From the repository root::

    .venv/bin/python benchmarks/conditional.py --models 12
    .venv/bin/python benchmarks/conditional.py --models 12 --generator diffusion
"""

from __future__ import annotations

import argparse
import tempfile
import warnings

import numpy as np

from sklearn_depict import (
    CaptionToImage,
    ConceptBottleneckClassifier,
    ConditioningWarning,
    ShapesGenerator,
    concept_permutation_importance,
    depict_importance,
    load_shapes_diffusion,
    make_concept_labels,
    make_shapes_dataset,
)
from sklearn_depict.models.bottleneck import ConceptHead
from sklearn_depict.stats.manifold import off_manifold_rate

DEPENDENCE = {("red circle", "blue square"): 0.9, ("green circle", "green square"): 0.7}


GENERATOR = {"generator": ShapesGenerator()}


def _pair(model, table, y, conditioning, n_repeats):
    kwargs = dict(scoring="roc_auc", n_repeats=n_repeats, random_state=0,
                  conditioning=conditioning)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConditioningWarning)
        ours = depict_importance(model, table, y, generator=GENERATOR["generator"], **kwargs)
        oracle = concept_permutation_importance(ConceptHead(model).fit(), table, y, **kwargs)
    return ours, oracle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=12)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--generator", choices=["shapes", "diffusion"], default="shapes")
    parser.add_argument("--cache", default=None,
                        help="image cache of the diffusion runs (default: a temporary folder)")
    args = parser.parse_args()
    if args.generator == "diffusion":
        cache = args.cache or tempfile.mkdtemp(prefix="depict-conditional-")
        GENERATOR["generator"] = CaptionToImage(load_shapes_diffusion("teacher"), cache=cache)

    train = make_shapes_dataset(1000, random_state=0)
    test = make_shapes_dataset(args.rows, random_state=1, dependence=DEPENDENCE)
    rng = np.random.RandomState(0)
    rows = {None: [], "auto": []}
    off = {}
    for _ in range(args.models):
        weights = rng.uniform(0, 1, size=6)
        model = ConceptBottleneckClassifier(weights=weights).fit(
            train.images, make_concept_labels(train.concept_table, weights),
            concept_table=train.concept_table)
        y = make_concept_labels(test.concept_table, weights)
        for conditioning in rows:
            ours, oracle = _pair(model, test.concept_table, y, conditioning, args.repeats)
            r = np.corrcoef(ours.importances_mean, oracle.importances_mean)[0, 1]
            top = np.argmax(ours.importances_mean) == np.argmax(oracle.importances_mean)
            rows[conditioning].append((r, top, ours.n_images_distinct))
            # The permutations depend on the table and random_state, not the model.
            off.setdefault(conditioning, _off_manifold(ours, test.concept_table))
    print(f"{args.models} random bottleneck models, {args.rows} correlated rows, "
          f"{args.repeats} repeats, "
          f"{'renderer' if args.generator == 'shapes' else 'shipped shapes diffusion model'}")
    print(f"{'permutation':<12} {'median r':>9} {'min r':>7} {'top-1':>6} "
          f"{'distinct images':>15}")
    for conditioning, found in rows.items():
        r, top, images = map(np.asarray, zip(*found))
        print(f"{conditioning or 'marginal':<12} {np.median(r):>9.3f} {r.min():>7.3f} "
              f"{top.mean():>6.2f} {int(np.median(images)):>15}")
    print("off-manifold rate (permuted rows whose combination of concepts never occurs "
          "in the table): " + ", ".join(f"{c or 'marginal'} {rate:.3f}" for c, rate in off.items()))

    weights = np.array([1.0, 0, 0, 0, 0, 0])
    model = ConceptBottleneckClassifier(weights=weights, threshold=0.5).fit(
        train.images, make_concept_labels(train.concept_table, weights, threshold=0.5),
        concept_table=train.concept_table)
    strong = make_shapes_dataset(args.rows, random_state=1,
                                 dependence={("red circle", "blue square"): 0.96})
    for case, data in (("disagree", strong),
                       ("agree", make_shapes_dataset(args.rows, random_state=1))):
        y = make_concept_labels(data.concept_table, weights, threshold=0.5)
        marginal, _ = _pair(model, data.concept_table, y, None, args.repeats)
        base = marginal.importances_mean[0]
        r = data.concept_table.corr().loc["red circle", "blue square"]
        print(f"{case} (r(red circle, blue square) = {r:.2f}): red circle marginal "
              f"{base:.3f} (changed fraction "
              f"{_changed(marginal, data):.2f}, off-manifold "
              f"{_off_manifold(marginal, data.concept_table):.3f})")
        for conditioning in ("auto", {"red circle": ["blue square"]}):
            conditional, _ = _pair(model, data.concept_table, y, conditioning, args.repeats)
            info = conditional.conditioning["red circle"]
            print(f"  conditioning={conditioning}: {conditional.importances_mean[0]:.3f} "
                  f"(ratio {conditional.importances_mean[0] / base:.2f}; changed fraction "
                  f"{info['changed_fraction']:.2f}, {info['n_strata']} strata, off-manifold "
                  f"{_off_manifold(conditional, data.concept_table):.3f})")


def _off_manifold(result, table) -> float:
    """The off-manifold rate of every (concept, repeat) table the run permuted."""
    plan = result.plan
    permuted = [plan.permuted_table(table, concept, repeat)
                for concept in plan.concept_names for repeat in range(result.importances.shape[1])]
    return off_manifold_rate(table, permuted)


def _changed(result, data) -> float:
    """The marginal changed fraction of 'red circle' in a marginal result."""
    values = data.concept_table["red circle"].to_numpy()
    plan = result.plan
    return float(np.mean(values[plan.permuted_rows[0]] != values[plan.row_indices]))


if __name__ == "__main__":
    main()
