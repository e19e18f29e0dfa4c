"""The DEPICT engine: one way from a concept table to importances.

The stages, numbered as the boxes of the data-flow picture in
``docs/architecture.rst`` and as the comments of :func:`.run.explain`::

    table = ConceptTable(X_captions)                      # 1. validated once: kinds, codes, seeds
    for each row i and each permuted concept j:           # 2.-3. captions and the plan
        pairs |= {(caption(row i), seed_i)}
        pairs |= {(caption(row i with j's value of row k), seed_i) for each value k of j}
    for each distinct pair, in chunks:                    # 4.-5. each image made once
        image = cache.get(pair) or generator(pair)        #       (or read from the cache)
        stored[pair] = estimator.predict*(image)          #       and predicted once
    baseline = scorer(stored[plan.baseline_ids], y)       # 6. scores replay stored predictions
    for each permuted concept j, repeat r:
        importance[j, r] = baseline - scorer(stored[plan.permuted_ids[j, r]], y)
    ci, pvalues = row_bootstrap(importance)               # 7. intervals, p-values, ranking
    return Bunch(importances_mean=..., ...)               # 8. the result

- :mod:`.plan` enumerates the distinct pairs and, for every (concept, repeat),
  the pair id each row shows;
- :mod:`.generate` makes (or loads) the images of distinct pairs;
- :mod:`.probe` tries the estimator and the detector on one or two images
  (real ones, or one of the generated size) before the run generates any;
- :mod:`.execute` is the one chunked generate-and-predict loop (joblib
  workers, reusing the generator a worker already holds);
- :mod:`.score` replays stored predictions through sklearn's scorers, and
  :mod:`.finish` turns the scores into the result (intervals, ranking);
- :mod:`.blocks` draws an anytime run's blocks and within-block
  permutations, and :mod:`.anytime` adds blocks until the intervals are
  narrower than ``tol`` (each step an ordinary score-and-finish);
- :mod:`.stages` holds the frozen values the stages hand on (``RunInputs``,
  ``Predictions``, ``Scores``);
- :mod:`.run` strings them together for the public functions.

The engine imports nothing from the public layer (``importance``,
``diagnostics``, ``cross_validation``, ``caption_to_image``); they import it.
Nothing is imported here, so that importing one submodule does not load the
rest.
"""
