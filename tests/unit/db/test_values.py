"""Bounds of the values any caller may store, on nova's columns too (the
2.x calls convert by column type: ``check_nova_values``)."""

import uuid

import pytest

from nova_proxy.db.api import _values
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
