"""The bench's echo servers (``Bench.start_echo``), without processes or
a broker: what each kind starts, the callers it makes, what it stops."""

import itertools

import pytest

from nova_proxy.bench import echo
from nova_proxy.bench import fleet
from nova_proxy.bench import runner
from nova_proxy.bench import servers


class _Server:
    pids = itertools.count(1000)

    def __init__(self, *args, name):
        self.args = args
        self.name = name
        self.pid = next(self.pids)
        self.stopped = 0

    def stop(self):
        self.stopped += 1


class _Client:
    """A caller of either kind, recording how it was made."""

    def __init__(self, *args):
        self.args = args
        self.closed = 0
        self.calls = 0
        self.client = self

    def prepare(self, timeout):
        return self

    def call(self, *args, **kwargs):
        self.calls += 1

    def close(self):
        self.closed += 1


@pytest.fixture
def bench(tmp_path):
    return runner.Bench(runner.PROFILES['smoke'], directory=str(tmp_path))


def test_every_kind_of_echo_floor_has_its_servers():
    assert set(runner._ECHO_SERVERS) == set(fleet.ECHO_KINDS)


def test_the_raw_echo_servers_and_callers_share_one_address(bench,
                                                            monkeypatch):
    monkeypatch.setattr(servers, 'start_amqp_echo',
                        lambda directory, *args, name: _Server(*args,
                                                               name=name))
    monkeypatch.setattr(echo, 'AmqpEchoClient', _Client)
    monkeypatch.setattr(echo, 'AmqpEchoClients', _Client)
    echoes = bench.start_echo('amqp', ['a', 'b'])
    address = (runner.AMQP_HOST, 'guest', 'guest', bench.amqp_echo_queue)
    started = [bench.servers['a'], bench.servers['b']]
    assert [(s.name, s.args) for s in started] == [
        ('a-echo', address), ('b-echo', address)]
    # A connection for each calling thread, or one per thread that calls.
    callers = [echoes.caller(), echoes.caller(), echoes.shared_caller()]
    assert len({id(c) for c in callers}) == 3
    assert {c.args for c in callers} == {address}
    echoes.stop()
    assert [c.closed for c in callers] == [1, 1, 1]
    assert [s.stopped for s in started] == [1, 1]
    assert bench.servers == {}


def test_the_oslo_echo_servers_share_one_client(bench, monkeypatch):
    from nova_proxy.common import rpc
    made = []

    def client(transport, topic):
        made.append(_Client(transport, topic))
        return made[-1]

    monkeypatch.setattr(servers, 'start_oslo_echo',
                        lambda directory, *args, name: _Server(*args,
                                                               name=name))
    monkeypatch.setattr(echo, 'OsloEchoClient', client)
    monkeypatch.setattr(rpc, 'get_transport', lambda: 'transport')
    echoes = bench.start_echo('oslo', ['a', 'b'])
    started = [bench.servers['a'], bench.servers['b']]
    assert [s.args for s in started] == [
        (runner.RABBIT_URL, bench.exchange, bench.echo_topic)] * 2
    # Each server waited for (three answers), through the one client
    # that every caller then uses.
    assert [(c.args, c.calls) for c in made] == [
        (('transport', bench.echo_topic), 6)]
    assert echoes.caller() is echoes.shared_caller() is made[0]
    echoes.stop()
    assert made[0].closed == 1
    assert [s.stopped for s in started] == [1, 1]
    assert bench.servers == {}


def test_servers_started_before_one_that_fails_are_stopped(bench,
                                                           monkeypatch):
    started = []

    def start(directory, *args, name):
        if name == 'b-echo':
            raise RuntimeError('no ready line')
        started.append(_Server(*args, name=name))
        return started[-1]

    monkeypatch.setattr(servers, 'start_amqp_echo', start)
    with pytest.raises(RuntimeError):
        bench.start_echo('amqp', ['a', 'b', 'c'])
    assert [(s.name, s.stopped) for s in started] == [('a-echo', 1)]
    assert bench.servers == {}
