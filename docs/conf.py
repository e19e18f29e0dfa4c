"""Sphinx configuration for the sklearn-depict documentation.

Build with::

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import sklearn_depict

# -- Project information -----------------------------------------------------

project = "sklearn-depict"
author = "sklearn-depict developers"
copyright = "sklearn-depict developers"
version = sklearn_depict.__version__
release = sklearn_depict.__version__

# -- General configuration ---------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"
default_role = "literal"

# The build runs without network access: no intersphinx mappings.

# -- autodoc / autosummary -----------------------------------------------------

# Pages for the API reference are written to docs/generated/ (git-ignored).
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"

# -- numpydoc ------------------------------------------------------------------

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Docstring validation is left to the test suite; the build stays quiet.
numpydoc_validation_checks: set[str] = set()

# -- HTML output ---------------------------------------------------------------

html_theme = "alabaster"
html_title = f"sklearn-depict {release}"
html_theme_options = {
    "description": "Diffusion-enabled permutation importance for image classifiers",
    "fixed_sidebar": True,
}


# -- Event handlers ------------------------------------------------------------


def _skip_metadata_routing(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_{method}_request`` methods.

    scikit-learn adds them to estimators whose ``fit`` or ``score`` take extra
    arguments (metadata routing). Their docstrings belong to scikit-learn and
    refer to its own glossary, which this site does not have.
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_routing)
