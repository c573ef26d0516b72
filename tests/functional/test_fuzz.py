"""A short run of the wire fuzzer (``tests/functional/fuzz.py``) against
two live proxies: 150 generated requests, each one the proxies serve
answered with a result or a named error, each one the guards drop left
unanswered (both proxies answering a ping right after it), both proxies
answering a ping after every batch, accepted creates read back as
returned. The long run is ``python -m tests.functional.fuzz --count
10000`` (docs/security.rst)."""

from tests.functional import fuzz

COUNT = 150


def test_generated_requests_are_answered_by_name_or_dropped(tmp_path,
                                                            config):
    with fuzz.live_fuzzer(tmp_path) as fuzzer:
        outcomes = fuzz.run(fuzzer, COUNT, seed=0)
        # Enough requests reached the proxies, got past dispatch, and
        # were dropped by the guards for the run to mean something.
        assert fuzzer.sent >= COUNT
        assert outcomes.get('result', 0) > 0, outcomes
        assert outcomes.get('InvalidRequest', 0) > 0, outcomes
        assert outcomes.get('NoSuchMethod', 0) > 0, outcomes
        assert outcomes.get('dropped:malformed', 0) > 0, outcomes
        # A message naming a reply queue that does not exist once held a
        # proxy thread for a minute: the calls after it were answered.
        assert outcomes.get('answered elsewhere:unknown_reply_q', 0) > 0, \
            outcomes
        for proc in fuzzer.cluster.processes:
            assert proc.alive(), proc.log()[-3000:]
