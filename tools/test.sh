#!/usr/bin/env bash
# Set up a virtualenv in .venv (once) and run the whole test suite against
# the real RabbitMQ, PostgreSQL and MariaDB of this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test,bench]'
exec .venv/bin/python -m pytest -p no:cacheprovider -n 2 tests "$@"
