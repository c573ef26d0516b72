"""The files an operator deploys (etc/, docs/deploying.rst): the example
configuration files agree with each other and load, the systemd units run
the scripts the package installs with those files, and the docs name the
same files as the units. ``tests/functional/test_wheel_install.py`` runs
them for real and checks the units with ``systemd-analyze verify``."""

import configparser
import glob
import os
import re

from oslo_config import cfg
import pytest

from nova_proxy.common import service
from nova_proxy.conf import opts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
ETC = os.path.join(ROOT, 'etc', 'nova-compute-proxy')
PROXY_CONF = os.path.join(ETC, 'nova-compute-proxy.conf')
COMPUTE_CONF = os.path.join(ETC, 'compute.conf')
UNITS = {'nova-compute-proxy.service': 'nova-compute-proxy.conf',
         'nova-compute-proxy-compute.service': 'compute.conf'}
# Where the units expect the scripts: docs/deploying.rst's virtualenv.
BIN = '/opt/nova-compute-proxy/bin/'
# The values a compute and the proxies must share to find each other.
SHARED = (('DEFAULT', 'transport_url'), ('DEFAULT', 'control_exchange'),
          ('proxy', 'topic'), ('compute', 'topic'))


def _ini(path):
    # [DEFAULT] as a section like the others, not inherited by them.
    parser = configparser.ConfigParser(interpolation=None,
                                       default_section='-')
    parser.read(path)
    return parser


def test_the_examples_agree_on_broker_exchange_and_topics():
    proxy, compute = _ini(PROXY_CONF), _ini(COMPUTE_CONF)
    for section, name in SHARED:
        assert proxy.get(section, name) == compute.get(section, name), name
    assert proxy.get('DEFAULT', 'host') != compute.get('DEFAULT', 'host')
    assert proxy.has_option('database', 'connection')
    # A compute node holds no database credentials.
    assert not compute.has_section('database')


@pytest.mark.parametrize('path, listing', [
    (PROXY_CONF, opts.list_opts), (COMPUTE_CONF, opts.list_compute_opts)])
def test_the_examples_load_with_valid_values(path, listing):
    conf = cfg.ConfigOpts()
    for group, options in listing():
        conf.register_opts(options, group=group)
    conf(['--config-file', path], project='nova-compute-proxy',
         default_config_files=[])
    assert service.invalid_option_value(conf) is None
    # Every option the example sets in our groups is one of ours: a
    # misspelt name would be ignored silently. ([DEFAULT] and oslo_* mix
    # in the libraries' options.)
    ours = {(getattr(group, 'name', group), opt.name)
            for group, options in listing() for opt in options}
    ini = _ini(path)
    for section in ini.sections():
        if section == 'DEFAULT' or section.startswith('oslo_'):
            continue
        for name in ini.options(section):
            assert (section, name) in ours, (section, name)


def _commands(unit):
    with open(os.path.join(ROOT, 'etc', 'systemd', unit)) as f:
        return [line.split('=', 1)[1].split() for line in f
                if line.startswith(('ExecStart=', 'ExecStartPre='))]


@pytest.mark.parametrize('unit', sorted(UNITS))
def test_the_units_run_installed_scripts_with_the_examples(unit):
    with open(os.path.join(ROOT, 'setup.cfg')) as f:
        scripts = re.findall(r'^\s+(nova-compute-proxy[\w-]*) =', f.read(),
                             re.M)
    commands = _commands(unit)
    assert commands
    for argv in commands:
        assert argv[0].startswith(BIN)
        assert argv[0][len(BIN):] in scripts
        assert argv[1:3] == ['--config-file',
                             '/etc/nova-compute-proxy/' + UNITS[unit]]


def test_the_docs_name_the_units_config_files():
    named = {'/etc/nova-compute-proxy/' + name for name in UNITS.values()}
    for path in glob.glob(os.path.join(ROOT, 'docs', '*.rst')) + [
            os.path.join(ROOT, 'README.rst')]:
        with open(path) as f:
            text = f.read()
        for found in re.findall(r'/etc/nova-compute-proxy/[\w.-]+\.conf\b',
                                text):
            assert found in named, (os.path.basename(path), found)
