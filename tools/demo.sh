#!/usr/bin/env bash
# The main job, on a fresh machine: set up .venv (once), then run
# tools/demo.py: database sync on the embedded SQLite default, a proxy and
# two compute services on RabbitMQ at 127.0.0.1:5672 (or, with no broker,
# everything in one process on the in-process transport), a few instances
# built, one resized and confirmed from the command line, all shown.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e .
exec .venv/bin/python tools/demo.py "$@"
