"""nova's objects on live proxies (see conftest.py)."""

# The line prefix of a scenario's result in the nova object process.
RESULT = 'NOVA-SCENARIO-RESULT: '


def refusals(attempts):
    """Run each of ``attempts`` (what -> callable) in a nova object
    process; returns {what: class name} of those nova's ``Forbidden``
    refused (the others are left out)."""
    from nova import exception

    refused = {}
    for what, attempt in attempts.items():
        try:
            attempt()
        except exception.Forbidden as e:
            refused[what] = type(e).__name__
    return refused
