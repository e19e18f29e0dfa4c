"""The statistics of a run: scoring from stored predictions, intervals, ranking.

- :mod:`.replay`: stored predictions as an estimator, for scikit-learn's scorers;
- :mod:`.fast_scoring` (with ``_fast_metrics`` and ``_fast_ranking``): named
  scorers vectorised over every repeat of a concept;
- :mod:`.bootstrap`: the row bootstrap and its p-values;
- :mod:`.intervals`: a result's intervals and p-values;
- :mod:`.ranking`: ranks, tie groups, t intervals and the agreement of folds;
- :mod:`.chance`: the score of guessing;
- :mod:`.concept_auroc`: a detector's AUROC per concept, binary or categorical;
- :mod:`.associations`: the concept table's pairwise associations and the
  concept groups they suggest;
- :mod:`.manifold`: the share of permuted rows whose combination of concepts
  never occurs in the real table;
- :mod:`.results`: single- or multi-metric results.
"""
