#!/usr/bin/env bash
# Install everything into a fresh virtual environment and run the linters and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m venv .venv-test
.venv-test/bin/python -m pip install --quiet --upgrade pip
.venv-test/bin/python -m pip install --quiet -e '.[dev]'
# pdftoppm renders PDFs in a few tests; they skip when it is missing.
.venv-test/bin/ruff check .
.venv-test/bin/mypy
.venv-test/bin/pytest -q -p no:cacheprovider
