#!/usr/bin/env bash
# The core tests on the oldest supported scikit-learn, without torch: what a
# plain `pip install sklearn-depict` gets on an older stack. The version is
# read from pyproject's `scikit-learn>=X.Y` (the newest X.Y.* patch is used).
# Tests and doctests that need torch or diffusers skip themselves; the slow
# ones (marker `slow`) and the property tests run only in the main
# environment (scripts/test.sh), to keep CI within its time budget.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv-oldest}
OLDEST=$(sed -n 's/^ *"scikit-learn>=\([0-9][0-9.]*\)",*$/\1/p' pyproject.toml)
[ -n "$OLDEST" ] || { echo "no scikit-learn>= pin found in pyproject.toml" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# No torch pin here, unlike scripts/test.sh: this environment must not have
# torch at all. The test-core extra holds nothing that depends on it (no
# skorch, peft, accelerate or diffusers), and the check below fails if that
# ever changes.
"$VENV/bin/pip" install -q "scikit-learn==$OLDEST.*" -e ".[test-core]"
"$VENV/bin/python" - "$OLDEST" <<'PY'
import importlib.util, sys
import sklearn
assert sklearn.__version__.startswith(sys.argv[1] + "."), sklearn.__version__
assert importlib.util.find_spec("torch") is None, "the core environment must not have torch"
print(f"core tests on scikit-learn {sklearn.__version__}, without torch")
PY
"$VENV/bin/python" -m pytest -p no:cacheprovider -n "${PYTEST_WORKERS:-2}" -m "not slow" \
    --ignore=tests/test_properties.py
