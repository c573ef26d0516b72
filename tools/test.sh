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
.venv/bin/python -m pytest -p no:cacheprovider -n 3 --dist worksteal tests "$@"
# Then, for a whole run, the tests of the proxies as a client sees them
# once more with every proxy on oslo.messaging's RPC server, the other
# choice of [proxy] rpc_server (tests/functional/procs.py). The whole
# functional suite on it:
#   NOVA_PROXY_TEST_RPC_SERVER=oslo.messaging bash tools/test.sh tests/functional
if [ $# -eq 0 ]; then
    NOVA_PROXY_TEST_RPC_SERVER=oslo.messaging exec .venv/bin/python -m pytest \
        -p no:cacheprovider -n 3 --dist worksteal \
        tests/functional/test_proxy_contract.py \
        tests/functional/test_wire_guard.py \
        tests/functional/test_replay.py \
        tests/functional/test_signed_context.py \
        tests/functional/test_operability.py \
        tests/functional/test_orchestration_faults.py
fi
