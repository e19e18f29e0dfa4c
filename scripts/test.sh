#!/usr/bin/env bash
# Set up a virtual environment and run everything CI checks: lint, tests
# (with doctests, on PYTEST_WORKERS processes, default 2), the documentation
# build with warnings as errors, then the core tests on the oldest supported
# scikit-learn without torch (scripts/test_oldest.sh; SKIP_OLDEST=1 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch first and pinned: an unpinned torch (or one pulled in by accelerate or
# peft) brings several GB of CUDA packages; 2.13.0 is the local CPU build. The
# package's extras ask for torch>=2.1 only, so the next line keeps this one.
.venv/bin/pip install -q "torch==2.13.0"
.venv/bin/pip install -q -e ".[diffusion,distributed,plot,benchmarks,test,docs]"

.venv/bin/ruff check .
.venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}"
.venv/bin/sphinx-build -q -W --keep-going -b html docs docs/_build/html
echo "docs built in docs/_build/html"
[ "${SKIP_OLDEST:-0}" = 1 ] || bash scripts/test_oldest.sh
