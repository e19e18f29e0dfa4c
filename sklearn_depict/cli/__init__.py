"""The ``sklearn-depict`` command line: ``demo`` and ``explain``.

:mod:`.main` parses the arguments and runs the commands, :mod:`.loaders`
reads the files they name, :mod:`.output_folders` checks that the report and
the cache can be written before the first image, and :mod:`.demo` and
:mod:`.demo_digits` are the two demos. It sits at the top of the package:
nothing imports it but ``python -m sklearn_depict``.
"""

from .main import main

__all__ = ["main"]
