"""Secure by default: the options' defaults require signed calls, and
``auth.check_signing`` / ``check_compute_signing`` say when a
configuration does not (the upgrade check and the daemons' start-up)."""

import pytest

from nova_proxy.common import auth
from nova_proxy.common import key_cli
from nova_proxy.conf import compute as conf_compute
from nova_proxy.conf import proxy as conf_proxy


def _default(opts, name):
    return next(o for o in opts if o.name == name).default


def test_signed_calls_are_required_by_default():
    assert _default(conf_proxy.proxy_opts, 'require_signed_context') is True
    assert _default(conf_compute.compute_opts,
                    'require_signed_context') is True


@pytest.fixture
def proxy_conf(config):
    """The options at their defaults (the ``config`` fixture turns
    signing off for the other tests)."""
    config.clear_override('require_signed_context', group='proxy')
    config.clear_override('require_signed_context', group='compute')
    return config


def _keys(tmp_path, proxy=True, hosts=('compute-1',)):
    directory = str(tmp_path / 'keys')
    for host in hosts:
        key_cli.create(host=host, directory=directory)
    if proxy:
        key_cli.create(proxy=True, directory=directory)
    return directory


def test_signing_on_with_keys_is_ok(proxy_conf, tmp_path):
    proxy_conf.set_override('host_keys_dir', _keys(tmp_path), group='proxy')
    ok, message = auth.check_signing(proxy_conf)
    assert ok
    assert 'keys for 1 compute host(s)' in message


def test_signing_off_is_reported(proxy_conf, tmp_path):
    proxy_conf.set_override('host_keys_dir', _keys(tmp_path), group='proxy')
    proxy_conf.set_override('require_signed_context', False, group='proxy')
    ok, message = auth.check_signing(proxy_conf)
    assert not ok
    assert 'require_signed_context is off' in message


@pytest.mark.parametrize('keys, expected', [
    (None, 'host_keys_dir is not set'),
    ('missing', 'is not a directory'),
    ('no-proxy-key', 'has no _proxy.key'),
    ('no-host-key', 'has no compute host key'),
])
def test_signing_on_without_keys_is_reported(proxy_conf, tmp_path, keys,
                                             expected):
    directory = {
        None: None,
        'missing': str(tmp_path / 'nowhere'),
        'no-proxy-key': lambda: _keys(tmp_path, proxy=False),
        'no-host-key': lambda: _keys(tmp_path, hosts=()),
    }[keys]
    if callable(directory):
        directory = directory()
    proxy_conf.set_override('host_keys_dir', directory, group='proxy')
    ok, message = auth.check_signing(proxy_conf)
    assert not ok
    assert expected in message


def test_compute_checks(proxy_conf, tmp_path):
    ok, message = auth.check_compute_signing(proxy_conf)
    assert not ok and 'key_file is not set' in message
    key_file = str(tmp_path / 'keys' / 'compute-1.key')
    proxy_conf.set_override('key_file', key_file, group='proxy_client')
    ok, message = auth.check_compute_signing(proxy_conf)
    assert not ok and 'cannot be used' in message
    _keys(tmp_path, proxy=False)
    assert auth.check_compute_signing(proxy_conf) == (
        True, 'Every call is signed with %s.' % key_file)
    proxy_conf.set_override('require_signed_context', False,
                            group='compute')
    ok, message = auth.check_compute_signing(proxy_conf)
    assert not ok and 'require_signed_context is off' in message


@pytest.mark.parametrize('daemon', ['nova-compute-proxy', 'compute'])
def test_the_sample_files_sign_every_call(daemon, tmp_path):
    from tests.unit.conf import test_opts
    sample = test_opts._sample(daemon, tmp_path)
    assert '#require_signed_context = true' in sample
    assert '#require_signed_context = false' not in sample
