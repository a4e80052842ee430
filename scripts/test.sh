#!/usr/bin/env bash
# Install everything into a fresh virtual environment and run the linters and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m venv .venv-test
.venv-test/bin/python -m pip install --quiet --upgrade pip
.venv-test/bin/python -m pip install --quiet -e '.[dev]'
# pdftoppm (poppler-utils) renders the printable PDFs in a few tests so their QR codes can be
# decoded back; install it where we can (CI runs as root on Debian), the tests skip without it.
if ! command -v pdftoppm >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq poppler-utils) >/dev/null 2>&1 || echo "poppler-utils not installed; PDF page tests will skip"
fi
# LibreOffice (headless Calc) converts the XLSX files to PDF in tests/test_files_print.py to prove they
# print; the test skips without it.
if ! command -v soffice >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libreoffice-calc-nogui) >/dev/null 2>&1 \
        || echo "LibreOffice not installed; the print test will skip"
fi
# redis-server (Redis) for the tests of several workers sharing conversations and send budgets
# (tests/redis_server.py starts a throwaway one per test worker; in CI a missing binary fails them).
if ! command -v redis-server >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null 2>&1 \
        || echo "redis-server not installed; the Redis tests will skip (outside CI)"
fi
# PostgreSQL (#27): tests/servers.py starts a throwaway server (initdb in a temporary folder, a unix
# socket there, stopped after) for the PostgreSQL tests, and for the whole suite with
# SCHOOLBOT_TEST_BACKEND=postgres. Its binaries come from the system's package; CI runs as root on Debian.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1 \
    && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null 2>&1 \
        || echo "PostgreSQL not installed; the PostgreSQL tests will skip"
fi
# Four workers on a two-core machine: most tests wait on sockets and child processes (a full run
# used about 35% of two workers' time), and four brought the suite from about 15 to about 8 minutes
# there. Tests that start child processes share one worker (PROCESS_MODULES in tests/conftest.py).
.venv-test/bin/ruff check .
.venv-test/bin/mypy
.venv-test/bin/pytest -q -p no:cacheprovider -n 4 --dist loadgroup
# The same suite on a district's set-up (#27): every database a test opens is a fresh PostgreSQL
# database, and every bot built from settings keeps its conversations and send budget in Redis
# (tests/conftest.py; tests/servers.py and tests/redis_server.py start both servers in temporary
# folders and stop them after). Modules that reach no database, or that start their own PostgreSQL
# and Redis, ran the same code above and are left out here (tests/db_use.py, checked by the first pass).
SCHOOLBOT_TEST_BACKEND=postgres .venv-test/bin/pytest -q -p no:cacheprovider -n 4 --dist loadgroup
