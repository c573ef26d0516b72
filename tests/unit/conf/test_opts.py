"""The option listing that oslo-config-generator and operators see."""

import os
import re
import subprocess
import sys

from nova_proxy.common import rpc
from nova_proxy import conf
from nova_proxy.conf import database
from nova_proxy.conf import opts
from nova_proxy.conf import proxy as proxy_conf

CONF = conf.CONF
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def _group_name(group):
    return getattr(group, 'name', group)


def test_every_option_has_help_text():
    for group, options in opts.list_opts():
        for opt in options:
            assert opt.help and len(opt.help) > 20, (
                '[%s] %s needs help text' % (_group_name(group), opt.name))


def test_listed_options_are_the_registered_ones():
    for group, options in opts.list_opts():
        name = _group_name(group)
        registered = CONF if name == 'DEFAULT' else getattr(CONF, name)
        for opt in options:
            assert opt.dest in registered, '[%s] %s' % (name, opt.dest)


def test_our_groups_are_listed():
    names = {_group_name(g) for g, _ in opts.list_opts()}
    assert {'DEFAULT', 'proxy', 'proxy_client', 'upgrade_levels',
            'database', 'compute', 'orchestration', 'periodic'} <= names


def _sample(daemon, tmp_path):
    """Run oslo-config-generator, as ``tox -e genconfig`` does, on the
    daemon's generator file. In a process of its own: the defaults hooks
    change libraries' option objects, which this process shares."""
    out = tmp_path / (daemon + '.conf.sample')
    subprocess.run(
        [os.path.join(os.path.dirname(sys.executable),
                      'oslo-config-generator'),
         '--config-file', os.path.join(
             ROOT, 'etc', 'nova-compute-proxy',
             daemon + '-config-generator.conf'),
         '--output-file', str(out)],
        check=True, cwd=ROOT, capture_output=True)
    return out.read_text()


def _options(sample):
    """``[(group, option)]`` in the order the sample lists them."""
    group, listed = None, []
    for line in sample.splitlines():
        if line.startswith('['):
            group = line.strip('[]')
        else:
            match = re.match(r'#(\w+) = ', line)
            if match:
                listed.append((group, match.group(1)))
    return listed


def test_the_proxy_sample_has_the_proxy_daemon_defaults(tmp_path):
    sample = _sample('nova-compute-proxy', tmp_path)
    assert '#topic = compute_proxy' in sample
    assert '#workers = 1' in sample
    # What the daemon runs with, not the libraries' defaults.
    assert '#executor_thread_pool_size = %d' % (
        rpc.PROXY_EXECUTOR_THREADS) in sample
    assert '#rabbit_qos_prefetch_count = %d' % rpc.PREFETCH_COUNT in sample
    assert '#connection = %s' % database.DEFAULT_CONNECTION in sample
    listed = _options(sample)
    # Each option once ([database] was listed by oslo.db's namespace too).
    assert len(listed) == len(set(listed))
    assert {'proxy', 'database', 'orchestration', 'periodic',
            'compute'} <= {group for group, _ in listed}


def test_the_compute_sample_has_no_database(tmp_path):
    sample = _sample('compute', tmp_path)
    listed = _options(sample)
    assert len(listed) == len(set(listed))
    groups = {group for group, _ in listed}
    assert {'DEFAULT', 'compute', 'proxy_client', 'proxy', 'upgrade_levels',
            'oslo_messaging_rabbit'} <= groups
    assert not groups & {'database', 'orchestration', 'periodic'}
    # oslo.messaging's executor default stays: compute calls wait on
    # long work.
    assert '#executor_thread_pool_size = 64' in sample
    assert '#topic = compute_proxy' in sample
    assert '#workers' not in sample and '#host_keys_dir' not in sample


def test_the_compute_listing_names_options_that_exist():
    proxy_names = {opt.name for opt in proxy_conf.proxy_opts}
    assert set(opts.COMPUTE_PROXY_OPTS) <= proxy_names
    for group, options in opts.list_compute_opts():
        name = _group_name(group)
        registered = CONF if name == 'DEFAULT' else getattr(CONF, name)
        for opt in options:
            assert opt.dest in registered, '[%s] %s' % (name, opt.dest)
