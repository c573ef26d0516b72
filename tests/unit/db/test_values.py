"""Bounds of the values any caller may store, on nova's columns too (the
2.x calls convert by column type: ``check_nova_values``)."""

import uuid

import pytest

from nova_proxy.db.api import _values
from nova_proxy.db import session as db_session
from nova_proxy.db import models
from nova_proxy import exception

_NODES = models.ComputeNode.__table__
_INSTANCES = models.Instance.__table__


@pytest.mark.parametrize('table, values', [
    (_NODES, {'memory_mb': -5}),
    (_NODES, {'vcpus_used': -1}),
    (_NODES, {'vcpus': '5'}),
    (_INSTANCES, {'root_gb': -1}),
    (_INSTANCES, {'progress': 101}),
])
def test_nova_columns_refuse_negative_resources_and_numbers_as_text(
        table, values):
    with pytest.raises(exception.InvalidUpdate) as error:
        _values.check_nova_values(table, values)
    assert error.value.kwargs['field'] == next(iter(values))


def test_nova_columns_that_may_be_negative_stay_so():
    assert _values.check_nova_values(_NODES, {
        'free_ram_mb': -512, 'disk_available_least': -3}) == {
        'free_ram_mb': -512, 'disk_available_least': -3}


@pytest.mark.parametrize('spelling', [
    str.upper, lambda u: u.replace('-', ''), lambda u: '{%s}' % u, 'x'.join])
def test_uuid_columns_take_only_the_canonical_spelling(spelling):
    canonical = str(uuid.uuid4())
    assert _values.check_nova_values(_INSTANCES, {'uuid': canonical}) == {
        'uuid': canonical}
    with pytest.raises(exception.InvalidUUID):
        _values.check_nova_values(_INSTANCES, {'uuid': spelling(canonical)})


def test_big_integer_resources_keep_their_range_and_refuse_negatives():
    migrations = models.Migration.__table__
    assert _values.check_nova_values(migrations, {
        'memory_total': 2 ** 40}) == {'memory_total': 2 ** 40}
    with pytest.raises(exception.InvalidUpdate):
        _values.check_nova_values(migrations, {'memory_total': -1})


def test_rows_by_a_statement_built_once_are_table_rows(db_all,
                                                       admin_context):
    """``table_rows_by`` reads what ``table_rows`` reads for each
    read_deleted mode, a None as IS NULL, and refuses a bad mode."""
    from nova_proxy.common import context as np_context
    from nova_proxy.db import api

    def node(host, name, ip):
        return api.compute_node_create(admin_context, {
            'host': host, 'node': name, 'hypervisor_type': 'fake',
            'vcpus': 1, 'memory_mb': 1, 'local_gb': 1, 'host_ip': ip})

    live = node('h1', 'n1', '192.0.2.9')
    api.compute_node_delete(admin_context,
                            node('h1', 'n2', '192.0.2.9')['id'])
    node('h2', 'n3', None)

    @db_session.core_reader
    def both(context, host, ip):
        return [f(context, _NODES, 'test by host and ip',
                  lambda bind: [_NODES.c.host == bind('host'),
                                _NODES.c.host_ip == bind('ip')],
                  {'host': host, 'ip': ip})
                for f in (_values.table_rows_by, _plain)]

    for mode, nodes in (('no', ['n1']), ('yes', ['n1', 'n2']),
                        ('only', ['n2'])):
        context = np_context.get_admin_context()
        context.read_deleted = mode
        for _ in range(2):
            built, plain = both(context, 'h1', '192.0.2.9')
            assert built == plain
            assert [row['node'] for row in built] == nodes
    assert both(admin_context, 'h1', '192.0.2.9')[0][0]['id'] == live['id']
    built, plain = both(admin_context, 'h2', None)
    assert built == plain
    assert [row['node'] for row in built] == ['n3']
    admin_context.read_deleted = 'sometimes'
    with pytest.raises(exception.Invalid):
        both(admin_context, 'h1', '192.0.2.9')


def _plain(context, table, shape, conditions, params):
    return _values.table_rows(context, table, *conditions(params.get))
