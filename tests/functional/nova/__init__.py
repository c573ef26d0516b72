"""nova's objects on live proxies (see conftest.py)."""

# The line prefix of a scenario's result in the nova object process.
RESULT = 'NOVA-SCENARIO-RESULT: '
