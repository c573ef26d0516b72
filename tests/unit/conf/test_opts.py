"""The option listing that oslo-config-generator and operators see."""

import io

from oslo_config import generator

from nova_proxy import conf
from nova_proxy.conf import opts

CONF = conf.CONF


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


def test_generator_writes_a_sample_with_our_defaults():
    out = io.StringIO()
    gen_conf = generator.cfg.ConfigOpts()
    generator.register_cli_opts(gen_conf)
    gen_conf(['--namespace', 'nova_compute_proxy'])
    generator.generate(gen_conf, output_file=out)
    sample = out.getvalue()
    assert '[proxy]' in sample
    assert '#topic = compute_proxy' in sample
    assert '#workers = 1' in sample
