"""Periodic tasks of the proxies with real compute services.

* A resize nobody confirms is confirmed after ``resize_confirm_window`` by
  a proxy's periodic task through the orchestration API: one journaled
  ``confirm_resize`` operation, its compute step applied once.
* A compute service killed with ``kill -9`` is marked down (``AUTO:``
  disabled) once its heartbeat is older than ``service_down_time``, and
  enabled again when the restarted compute heartbeats.
"""

from nova_proxy.db import api as db_api
from nova_proxy.periodic.tasks import confirm_resizes
from nova_proxy.periodic.tasks import mark_services_down
from tests.functional import orchestration_fixtures as of
from tests.functional.orchestration_fixtures import orchestra  # noqa: F401
from tests.functional import periodic_fixtures as pf
from tests.functional.procs import wait_for

DOWN_TIME = 6


def _service(o, host):
    return db_api.service_get_by_host_and_binary(o.ctx, host,
                                                 'nova-compute')


def test_auto_confirm_and_services_marked_down_and_up(orchestra):  # noqa: F811
    o = orchestra
    options = of._merge(
        of.proxy_options(o.cluster.exchange),
        pf.periodic_options(['confirm_resizes', 'mark_services_down'], 1,
                            resize_confirm_window=2,
                            service_down_time=DOWN_TIME))
    for name in ('p1', 'p2'):
        o.procs[name] = o.cluster.start('proxy', name, extra=options)
        o.wait_live(name)
    o.start_compute('cmp1')
    o.start_compute('cmp2')
    uuid, = o.build(1, host='cmp1')
    resize = o.wait_finished(o.api.migrate_server(
        o.ctx, uuid, dest_host='cmp2', flavor=of.BIG)['id'])
    o.assert_migrated(resize, uuid)
    migration = o.migration(resize)

    # Nobody confirms: a proxy does, through the journal.
    op_id = confirm_resizes.operation_id_for(migration['uuid'])
    wait_for(lambda: o.op(op_id), timeout=60, interval=0.2,
             message='the automatic confirmation')
    confirm = o.wait_finished(op_id)
    assert confirm['kind'] == 'confirm_resize'
    assert confirm['status'] == 'done', confirm
    instance = o.instance(uuid)
    assert (instance['host'], instance['vm_state'],
            instance['task_state']) == ('cmp2', 'active', None)
    assert o.migration(resize)['status'] == 'confirmed'
    o.assert_effects_once([op_id], ['confirm_resize'])
    assert [r['kind'] for r in o.api.operation_list(
        o.ctx, instance_uuid=uuid)] == ['confirm_resize', 'migrate',
                                        'build']

    # A compute dies: its service is marked down, then up again.
    assert _service(o, 'cmp1')['disabled'] is False
    o.kill('cmp1')
    down = wait_for(lambda: _service(o, 'cmp1')['disabled'] and
                    _service(o, 'cmp1'), timeout=60, interval=0.2,
                    message='cmp1 marked down')
    assert down['disabled_reason'].startswith(
        mark_services_down.DOWN_REASON_PREFIX)
    assert _service(o, 'cmp2')['disabled'] is False
    o.start_compute('cmp1', wait=False)
    wait_for(lambda: not _service(o, 'cmp1')['disabled'], timeout=60,
             interval=0.2, message='cmp1 marked up')
    assert _service(o, 'cmp1')['disabled_reason'] is None
