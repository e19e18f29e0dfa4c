"""Case studies that run the public API end to end on real data.

:mod:`.digits_shortcuts`: does a CNN trained on handwritten digits take a
shortcut? (``sklearn-depict demo --domain digits``, ``docs/digits_shortcuts.rst``).
:mod:`.digits_correlated`: marginal against conditional DEPICT when ``thick``
goes with the digit (``benchmarks/digits_correlated.py``, ``docs/correlated.rst``).
"""
