"""The DEPICT engine: one way from a concept table to importances.

Data flows one way::

    concept table -> captions -> plan (distinct (caption, seed) pairs)
        -> generate, cached -> predict -> score -> result

- :mod:`.plan` enumerates the distinct pairs and, for every (concept, repeat),
  the pair id each row shows;
- :mod:`.generate` makes (or loads) the images of distinct pairs;
- :mod:`.probe` tries the estimator and the detector on one or two images
  (real ones, or one of the generated size) before the run generates any;
- :mod:`.execute` is the one chunked generate-and-predict loop (joblib
  workers, reusing the generator a worker already holds);
- :mod:`.score` replays stored predictions through sklearn's scorers;
- :mod:`.run` strings them together for the public functions.

The package imports nothing from the public API modules (``importance``,
``diagnostics``, ``cross_validation``); they import it. Nothing is imported
here, so that modules it uses (``intervals``) may import its submodules.
"""
