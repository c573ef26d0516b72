"""``nova-compute-proxy-status upgrade check``: its checks run in this
process, on a SQLite database (tests/functional/test_status.py runs the
command against a running proxy)."""

from oslo_upgradecheck import upgradecheck

from nova_proxy.cmd import status
from nova_proxy.db import api as db_api


def _check(name):
    """The result of the check registered as ``name``."""
    return dict(status.Checks._upgrade_checks)[name](status.Checks())


def _service(context, host, topic, binary='nova-compute'):
    return db_api.service_create(context, {'host': host, 'binary': binary,
                                           'topic': topic})


def test_compute_topics_pass_when_every_service_registers_ours(
        db, admin_context):
    _service(admin_context, 'cmp-1', 'compute')
    disabled = _service(admin_context, 'cmp-2', 'compute')
    db_api.service_update(admin_context, disabled['id'], {'disabled': True})
    # Neither a deleted compute service nor another binary counts.
    gone = _service(admin_context, 'cmp-old', 'op_check_compute')
    db_api.service_destroy(admin_context, gone['id'])
    _service(admin_context, 'cmp-1', 'other', binary='nova-other')
    result = _check('Compute topics')
    assert (result.code, result.details) == (
        upgradecheck.Code.SUCCESS, "No compute service registers another "
        "topic than 'compute', the one this proxy calls (2 services).")


def test_compute_topics_warn_naming_the_hosts_of_another_topic(
        db, admin_context):
    for host in ('op-cn-2', 'op-cn-1'):
        _service(admin_context, host, 'op_check_compute')
    disabled = _service(admin_context, 'op-cn-3', 'old')
    db_api.service_update(admin_context, disabled['id'], {'disabled': True})
    _service(admin_context, 'cmp-ok', 'compute')
    result = _check('Compute topics')
    assert result.code == upgradecheck.Code.WARNING
    assert result.details == (
        "3 compute services register another topic than 'compute', the "
        "one this proxy calls: 'old' on op-cn-3; 'op_check_compute' on "
        "op-cn-1, op-cn-2. The proxies' calls to them time out "
        "(ComputeUnavailable): set [compute] topic to the same value in "
        "the proxies' and the computes' configuration files, then mend a "
        "record older than that with 'nova-compute-proxy-manage service "
        "set-topic --host HOST'.")


def test_compute_topics_compare_with_this_configuration(db, admin_context,
                                                        config):
    _service(admin_context, 'op-cn-1', 'op_check_compute')
    config.set_override('topic', 'op_check_compute', group='compute')
    assert _check('Compute topics').code == upgradecheck.Code.SUCCESS
    config.set_override('topic', 'compute', group='compute')
    assert _check('Compute topics').details.startswith(
        "1 compute service registers another topic than 'compute', the "
        "one this proxy calls: 'op_check_compute' on op-cn-1.")


def test_compute_topics_name_the_first_hosts_and_count_the_rest(
        db, admin_context):
    for number in range(1, 8):
        _service(admin_context, 'op-cn-%d' % number, 'op_check_compute')
    result = _check('Compute topics')
    assert result.code == upgradecheck.Code.WARNING
    assert "7 compute services register" in result.details
    assert "'op_check_compute' on op-cn-1, op-cn-2, op-cn-3, op-cn-4, " \
        "op-cn-5 and 2 more." in result.details


def test_compute_topics_pass_with_no_compute_service(db):
    result = _check('Compute topics')
    assert result.code == upgradecheck.Code.SUCCESS
    assert result.details.endswith('(0 services).')
