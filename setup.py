"""Build script: the metadata is in setup.cfg, the version comes from git
(setuptools-scm, configured in pyproject.toml).

The packages are found, not listed: every directory with an
``__init__.py`` under ``nova_proxy/``, plus the alembic tree, which lives
at the top of the repository (``migrations/``) so that it is easy to find
and is installed as ``nova_proxy.db.migrations`` (setup.cfg's
``package_dir``).
"""

import setuptools

MIGRATIONS = 'nova_proxy.db.migrations'


def packages():
    ours = setuptools.find_packages(include=['nova_proxy', 'nova_proxy.*'])
    alembic_tree = [MIGRATIONS] + [
        MIGRATIONS + '.' + name
        for name in setuptools.find_packages('migrations')]
    return sorted(ours + alembic_tree)


setuptools.setup(packages=packages())
