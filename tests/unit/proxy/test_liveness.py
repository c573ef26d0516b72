"""The heartbeat pauses its worker while the database cannot be reached
and other proxies are live, and resumes it at its next success."""

import logging

from oslo_db import exception as db_exc
import pytest

from nova_proxy.proxy import liveness


class _Service:
    """Records what the heartbeat asked of the RPC service."""

    def __init__(self):
        self.calls = []

    def pause_serving(self):
        self.calls.append('pause')

    def resume_serving(self):
        self.calls.append('resume')


class _Database:
    """Stands for the proxies table: up or down, with these members."""

    def __init__(self, monkeypatch, members):
        self.up = True
        self.members = members
        self.error = db_exc.DBConnectionError('connection timed out')
        monkeypatch.setattr(liveness, 'heartbeat_once', self._heartbeat)
        monkeypatch.setattr(liveness, 'live_members', self._members)

    def _heartbeat(self, context, member, host, **kwargs):
        if not self.up:
            raise self.error

    def _members(self, context):
        return list(self.members)


def _heartbeat():
    service = _Service()
    return liveness.Heartbeat(None, 'p1', 'host-1', service=service), service


def test_a_worker_with_live_peers_pauses_once_and_resumes(
        monkeypatch, caplog):
    db = _Database(monkeypatch, ['p1', 'p2'])
    beat, service = _heartbeat()
    caplog.set_level(logging.INFO, logger=liveness.__name__)
    beat.beat()
    assert service.calls == []
    db.up = False
    beat.beat()
    beat.beat()
    assert service.calls == ['pause']
    assert beat.paused_since is not None
    db.up = True
    beat.beat()
    beat.beat()
    assert service.calls == ['pause', 'resume']
    assert beat.paused_since is None
    pauses = [r for r in caplog.records if 'stopped taking calls' in
              r.getMessage()]
    resumes = [r for r in caplog.records if 'taking calls again' in
               r.getMessage()]
    assert [r.levelname for r in pauses] == ['WARNING']
    assert [r.levelname for r in resumes] == ['INFO']
    assert 'the 1 other live proxies' in pauses[0].getMessage()


def test_a_worker_that_saw_no_peer_keeps_serving(monkeypatch, caplog):
    db = _Database(monkeypatch, ['p1'])
    beat, service = _heartbeat()
    beat.beat()
    db.up = False
    beat.beat()
    beat.beat()
    assert service.calls == []
    alone = [r for r in caplog.records if 'saw no other live proxy' in
             r.getMessage()]
    assert len(alone) == 1


def test_a_worker_that_never_reached_its_peers_keeps_serving(monkeypatch):
    db = _Database(monkeypatch, ['p1', 'p2'])
    db.up = False
    beat, service = _heartbeat()
    beat.beat()
    assert service.calls == []


def test_an_error_other_than_an_outage_does_not_pause(monkeypatch):
    db = _Database(monkeypatch, ['p1', 'p2'])
    beat, service = _heartbeat()
    beat.beat()
    db.up = False
    db.error = db_exc.DBError('syntax error')
    beat.beat()
    assert service.calls == []


def test_a_stopping_heartbeat_does_not_pause(monkeypatch):
    db = _Database(monkeypatch, ['p1', 'p2'])
    beat, service = _heartbeat()
    beat.beat()
    beat._stop.set()
    db.up = False
    beat.beat()
    assert service.calls == []


@pytest.mark.parametrize('members', [['p1', 'p2'], ['p1']])
def test_without_a_service_nothing_is_paused(monkeypatch, members):
    db = _Database(monkeypatch, members)
    beat = liveness.Heartbeat(None, 'p1', 'host-1')
    beat.beat()
    db.up = False
    beat.beat()
    assert beat.paused_since is None


def test_a_resume_that_failed_is_tried_again(monkeypatch):
    db = _Database(monkeypatch, ['p1', 'p2'])
    beat, service = _heartbeat()
    beat.beat()
    db.up = False
    beat.beat()

    def resume_serving():
        service.calls.append('resume')
        if service.calls.count('resume') == 1:
            raise RuntimeError('broker unreachable')
    service.resume_serving = resume_serving
    db.up = True
    with pytest.raises(RuntimeError):
        beat.beat()
    assert beat.paused_since is not None
    beat.beat()
    assert service.calls == ['pause', 'resume', 'resume']
    assert beat.paused_since is None
