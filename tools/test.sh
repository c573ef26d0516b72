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
# Three workers on two cores: most tests wait on brokers, databases and
# daemons, not on the CPU. worksteal: a worker that runs out of tests takes
# queued ones from the others (the slow fault tests left the default
# scheduling with one worker busy for minutes after the other finished).
# 20 min 43 s with -n 2, 11 min 08 s like this, on one machine, 2026-12-06.
exec .venv/bin/python -m pytest -p no:cacheprovider -n 3 --dist worksteal tests "$@"
