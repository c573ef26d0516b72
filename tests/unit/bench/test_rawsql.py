import pytest

from nova_proxy.bench import rawsql
from nova_proxy.bench import workloads
from nova_proxy.common import context as np_context
from nova_proxy.db import api as db_api


def _progress(host):
    return db_api.instance_get_by_uuid(np_context.get_admin_context(),
                                       host.instance_uuids[0])['progress']


def test_the_captured_compare_and_swap_replays_with_the_driver_alone(db_all):
    first, second = workloads.seed_hosts('raw', 2)
    statements = rawsql.capture(first)
    # What instance_update ran: one statement writes the progress, and
    # it is the conditional UPDATE with the host scope.
    [cas] = [s for s in statements if s.progress_key is not None]
    assert cas.sql.lstrip().upper().startswith('UPDATE INSTANCES')
    assert 'migrations' in cas.sql
    assert _progress(first) == rawsql.MARKER
    caller = rawsql.RawCaller(db_all, statements)
    try:
        caller.call()
        assert _progress(first) == 1
        caller.call()
        assert _progress(first) == 2
    finally:
        caller.close()
    # Only the captured host's instance was written.
    assert _progress(second) is None


def test_a_replay_that_matches_no_row_is_an_error(db_all):
    [host] = workloads.seed_hosts('raw', 1)
    statements = rawsql.capture(host)
    # Another task took over: the expected task state no longer holds.
    db_api.instance_update(np_context.get_admin_context(),
                           host.instance_uuids[0], {'task_state': 'spawning'})
    caller = rawsql.RawCaller(db_all, statements)
    try:
        with pytest.raises(rawsql.RawSqlError):
            caller.call()
    finally:
        caller.close()


def test_the_marker_must_be_found_once():
    assert rawsql.Statement('x', {'a': 1, 'p': rawsql.MARKER}) \
        .parameters_for(5) == {'a': 1, 'p': 5}
    assert rawsql.Statement('x', (1, rawsql.MARKER)).parameters_for(5) == \
        (1, 5)
    # A boolean is not the marker, nor a string of it.
    assert rawsql.Statement('x', (True, '77')).progress_key is None
    with pytest.raises(rawsql.RawSqlError):
        rawsql.Statement('x', (rawsql.MARKER, rawsql.MARKER))
