"""nova's migration calls (wire 2.x) behind a real RPC server on the fake
driver: served beside the 1.x methods of the same name, and confined to
the migrations that name the caller."""

import pytest

from nova_proxy.common import context as np_context
from nova_proxy import exception
from nova_proxy.proxy import rpcapi

ADMIN = np_context.get_admin_context()
OWN_INSTANCE = '0f6b7a0e-5d1c-4f6e-9a43-1c2d3e4f5a6b'
OTHER_INSTANCE = '1f6b7a0e-5d1c-4f6e-9a43-1c2d3e4f5a6b'


def compute(host):
    return np_context.get_compute_context(host)


def _migrations(nova):
    """One between h1 and h2, one between h2 and h3 (not h1's)."""
    own = nova.call(ADMIN, 'migration_create', values={
        'instance_uuid': OWN_INSTANCE, 'source_compute': 'h1',
        'source_node': 'h1-n', 'dest_compute': 'h2', 'dest_node': 'h2-n',
        'status': 'running', 'migration_type': 'live-migration'})
    other = nova.call(ADMIN, 'migration_create', values={
        'instance_uuid': OTHER_INSTANCE, 'source_compute': 'h2',
        'source_node': 'h2-n', 'dest_compute': 'h3', 'dest_node': 'h3-n',
        'status': 'running', 'migration_type': 'live-migration'})
    return own, other


@pytest.mark.parametrize('host', ['h1', 'h2'])
def test_both_ends_read_and_update_their_migration(nova, host):
    own, _ = _migrations(nova)
    ctx = compute(host)
    assert nova.call(ctx, 'migration_get', migration_id=own['id']) == own
    assert nova.call(ctx, 'migration_get_by_uuid',
                     migration_uuid=own['uuid']) == own
    assert nova.call(ctx, 'migration_get_by_id_and_instance',
                     migration_id=own['id'],
                     instance_uuid=OWN_INSTANCE) == own
    assert nova.call(ctx, 'migration_get_by_instance_and_status',
                     instance_uuid=OWN_INSTANCE, status='running') == own
    assert nova.call(ctx, 'migration_get_in_progress_by_instance',
                     instance_uuid=OWN_INSTANCE,
                     migration_type='live-migration') == [own]
    # h2 is also the source of the other one.
    assert own in nova.call(ctx,
                            'migration_get_in_progress_by_host_and_node',
                            host=host, node=host + '-n')
    assert own in nova.call(
        ctx, 'migration_get_in_progress_and_error_by_host_and_node',
        host=host, node=host + '-n')
    assert own in nova.call(ctx, 'migration_get_all_by_filters',
                            filters={'host': host})
    assert nova.call(ctx, 'migration_get_unconfirmed_by_dest_compute',
                     confirm_window=0, dest_compute=host) == []
    updated = nova.call(ctx, 'migration_update', migration_id=own['id'],
                        values={'memory_processed': 10})
    assert updated['memory_processed'] == 10


def test_nova_computes_filters_are_served(nova):
    own, _ = _migrations(nova)
    # nova-compute's evacuation clean-up: its own source, with paging
    # arguments as any caller may send them.
    assert nova.call(compute('h1'), 'migration_get_all_by_filters',
                     filters={'source_compute': 'h1',
                              'status': ['running', 'done']},
                     sort_keys=['id'], sort_dirs=['asc'], limit=5) == [own]
    with pytest.raises(exception.MarkerNotFound):
        nova.call(ADMIN, 'migration_get_all_by_filters', filters={},
                  limit=1, marker=OTHER_INSTANCE)


def test_one_name_two_majors(nova):
    # 1.x migration_get is nova's now: the same row from either major.
    own, _ = _migrations(nova)
    assert rpcapi.ProxyAPI(timeout=10).migration_get(
        ADMIN, own['id']) == nova.call(ADMIN, 'migration_get',
                                       migration_id=own['id'])


REFUSED = [
    ('migration_create', lambda own, other: {'values': {
        'instance_uuid': OWN_INSTANCE, 'source_compute': 'h1',
        'dest_compute': 'h1', 'migration_type': 'resize'}}),
    ('migration_get', lambda own, other: {'migration_id': other['id']}),
    ('migration_get_by_uuid', lambda own, other: {
        'migration_uuid': other['uuid']}),
    ('migration_get_by_id_and_instance', lambda own, other: {
        'migration_id': other['id'], 'instance_uuid': OTHER_INSTANCE}),
    ('migration_get_by_instance_and_status', lambda own, other: {
        'instance_uuid': OTHER_INSTANCE, 'status': 'running'}),
    ('migration_get_in_progress_by_instance', lambda own, other: {
        'instance_uuid': OTHER_INSTANCE}),
    ('migration_get_in_progress_by_host_and_node', lambda own, other: {
        'host': 'h2', 'node': 'h2-n'}),
    ('migration_get_in_progress_and_error_by_host_and_node',
     lambda own, other: {'host': 'h2', 'node': 'h2-n'}),
    ('migration_get_unconfirmed_by_dest_compute', lambda own, other: {
        'confirm_window': 0, 'dest_compute': 'h2'}),
    ('migration_get_all_by_filters', lambda own, other: {
        'filters': {'host': 'h2'}}),
    ('migration_update', lambda own, other: {
        'migration_id': other['id'], 'values': {'status': 'error'}}),
]


def test_every_migration_call_is_in_the_refused_list():
    assert {name for name, _ in REFUSED} == {
        n for n in rpcapi.NOVA_METHODS if n.startswith('migration_')}


@pytest.mark.parametrize('method, kwargs', REFUSED,
                         ids=[name for name, _ in REFUSED])
def test_refused_for_another_host(nova, method, kwargs):
    own, other = _migrations(nova)
    with pytest.raises(exception.Forbidden):
        nova.call(compute('h1'), method, **kwargs(own, other))
    # Nothing was written on the way.
    assert nova.call(ADMIN, 'migration_get_all_by_filters',
                     filters={}) == [own, other]


@pytest.mark.parametrize('filters', [
    {}, {'status': 'running'}, {'source_compute': 'h2'},
    # host wins over source_compute, as in nova's query.
    {'host': 'h2', 'source_compute': 'h1'}])
def test_lists_of_other_hosts_are_refused(nova, filters):
    _migrations(nova)
    with pytest.raises(exception.Forbidden):
        nova.call(compute('h1'), 'migration_get_all_by_filters',
                  filters=filters)


def test_a_compute_host_may_not_retarget_or_reopen(nova):
    own, _ = _migrations(nova)
    for values in ({'dest_compute': 'h3'}, {'source_compute': 'h3'},
                   {'instance_uuid': OTHER_INSTANCE}):
        with pytest.raises(exception.Forbidden):
            nova.call(compute('h1'), 'migration_update',
                      migration_id=own['id'], values=values)
    nova.call(compute('h1'), 'migration_update', migration_id=own['id'],
              values={'status': 'completed'})
    with pytest.raises(exception.Forbidden):
        nova.call(compute('h2'), 'migration_update', migration_id=own['id'],
                  values={'status': 'running'})


@pytest.mark.parametrize('kwargs', [
    {'filters': {'host': 'h1', 'status': 5}},
    {'filters': {'host': 'h1', 'node': {'a': 1}}},
    {'filters': {'host': 'h1', 'hidden': 'yes'}},
    {'filters': {'host': 'h1', 'uuid': [1, 2]}},
])
def test_filters_of_the_wrong_type_are_named(nova, kwargs):
    # Not a database error (ProxyInternalError): the caller's InvalidInput.
    with pytest.raises(exception.InvalidInput):
        nova.call(ADMIN, 'migration_get_all_by_filters', **kwargs)


def test_a_confirm_window_out_of_range_is_named(nova):
    with pytest.raises(exception.InvalidInput):
        nova.call(ADMIN, 'migration_get_unconfirmed_by_dest_compute',
                  confirm_window=2 ** 62, dest_compute='h1')
