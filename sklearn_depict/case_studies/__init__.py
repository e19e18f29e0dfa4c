"""Case studies that run the public API end to end on real data.

:mod:`.digits_shortcuts`: does a CNN trained on handwritten digits take a
shortcut? (``sklearn-depict demo --domain digits``, ``docs/digits_shortcuts.rst``).
"""
