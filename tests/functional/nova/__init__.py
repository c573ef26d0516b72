"""nova's objects on live proxies (see conftest.py)."""

# The line prefix of a scenario's result in the nova object process.
RESULT = 'NOVA-SCENARIO-RESULT: '


def refusals(attempts):
    """``{what: error class name}`` of ``attempts`` (``{what: callable}``)
    that nova's code sees refused (``nova.exception.Forbidden``); for
    scenarios, in the nova object process."""
    from nova import exception

    refused = {}
    for what, attempt in attempts.items():
        try:
            attempt()
        except exception.Forbidden as e:
            refused[what] = type(e).__name__
    return refused
