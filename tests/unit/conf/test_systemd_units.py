"""The shipped systemd units run each daemon where a relative
``[DEFAULT] state_path`` (the default, ``state``) lands in a directory the
service user owns: not ``/state`` (a unit without WorkingDirectory runs
in ``/``)."""

import configparser
import glob
import os

import pytest

from nova_proxy.conf import default

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
UNITS = sorted(glob.glob(os.path.join(ROOT, 'etc', 'systemd', '*.service')))


def _service_section(path):
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(path)
    return parser['Service']


def test_the_units_are_found():
    names = {os.path.basename(u) for u in UNITS}
    assert {'nova-compute-proxy.service',
            'nova-compute-proxy-compute.service'} <= names


@pytest.mark.parametrize('unit', UNITS, ids=os.path.basename)
def test_state_path_resolves_under_the_state_directory(unit):
    service = _service_section(unit)
    state_directory = service.get('StateDirectory')
    assert state_directory == 'nova-compute-proxy', unit
    working_directory = service.get('WorkingDirectory')
    assert working_directory == '/var/lib/' + state_directory, unit
    assert service.get('User') == 'nova'
    state_path = {o.name: o for o in default.default_opts}['state_path']
    resolved = os.path.join(working_directory, state_path.default)
    assert resolved.startswith('/var/lib/nova-compute-proxy/'), resolved


def test_state_path_help_says_relative_is_against_the_working_directory():
    state_path = {o.name: o for o in default.default_opts}['state_path']
    assert not os.path.isabs(state_path.default)
    assert 'working directory' in state_path.help
