"""The release of this installation, as the package metadata says.

``release()`` is what the proxies record in their liveness row and what
``nova-compute-proxy-status upgrade check`` compares between them; the
other functions are what oslo.reports' Guru Meditation Report prints.
"""

import functools
from importlib import metadata

__all__ = ['release', 'vendor_string', 'product_string',
           'version_string_with_package']

PACKAGE = 'nova-compute-proxy'


@functools.lru_cache(maxsize=None)
def release():
    """The installed package's version, or ``unknown`` when the code runs
    from a tree that was never installed. Read once per process: the
    code a process runs does not change under it."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return 'unknown'


def vendor_string():
    return 'OpenStack community'


def product_string():
    return PACKAGE


def version_string_with_package():
    return release()
