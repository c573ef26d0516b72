from nova_proxy.bench import profiling


def test_summarize_shares_of_parts():
    lines = [
        'run (x.py:1);RPCDispatcher.dispatch (d.py:2);instance_update '
        '(nova_proxy/db/api/instance_cas.py:3) 6\n',
        'run (x.py:1);AMQPListener.poll (a.py:4) 3\n',
        'run (x.py:1);tick (nova_proxy/periodic/runner.py:5) 1\n',
        'garbage\n',
    ]
    result = profiling.summarize(lines)
    shares = result['shares']
    assert result['samples'] == 10
    assert shares['database API (nova_proxy.db, SQLAlchemy, driver)'] == 0.6
    assert shares['RPC dispatch (oslo.messaging dispatcher, our '
                  'remotable)'] == 0.6
    assert shares['AMQP receive (consumer thread, decoding)'] == 0.3
    assert shares['periodic tasks (background)'] == 0.1
    assert shares['AMQP reply'] == 0


def test_the_direct_servers_frames_count_in_their_parts():
    """Frames of the default RPC server, sampled as py-spy names them."""
    lines = [
        'run (x.py:1);DirectRPCServer._receive (nova_proxy/common/'
        'direct_rpc.py:420);Connection.drain_events (amqp/connection.py:'
        '529) 2\n',
        'run (x.py:1);DirectRPCServer._serve (nova_proxy/common/'
        'direct_rpc.py:574);QuietDispatcher.dispatch (w.py:421) 5\n',
        'run (x.py:1);DirectRPCServer._serve (nova_proxy/common/'
        'direct_rpc.py:584);DirectIncoming.reply (nova_proxy/common/'
        'direct_rpc.py:118) 3\n',
    ]
    shares = profiling.summarize(lines)['shares']
    assert shares['AMQP receive (consumer thread, decoding)'] == 0.2
    assert shares['RPC dispatch (oslo.messaging dispatcher, our '
                  'remotable)'] == 0.5
    assert shares['AMQP reply'] == 0.3


def test_sampler_without_py_spy(monkeypatch, tmp_path):
    monkeypatch.setattr(profiling, '_py_spy', lambda: None)
    sampler = profiling.Sampler(1, 1, str(tmp_path / 'p.txt'))
    assert sampler.finish() == {'error': 'py-spy is not installed'}


def test_merge_sums_samples_and_weights_thread_splits(tmp_path):
    first, second = tmp_path / 'a.txt', tmp_path / 'b.txt'
    first.write_text('run (x.py:1);AMQPListener.poll (a.py:4) 3\n')
    second.write_text('run (x.py:1);instance_update '
                      '(nova_proxy/db/api/instance_cas.py:3) 1\n')
    parts = [
        (str(first), {'samples': 3}, {
            'calls': 100, 'busiest_us_per_call': 1000.0,
            'others_us_per_call': 2000.0, 'threads_that_ran': 10}),
        (str(second), {'samples': 1}, {
            'calls': 300, 'busiest_us_per_call': 2000.0,
            'others_us_per_call': 4000.0, 'threads_that_ran': 30}),
        (str(tmp_path / 'missing.txt'), {'error': 'py-spy failed'}, None),
    ]
    merged = profiling.merge(parts)
    assert merged['samples'] == 4
    assert merged['shares']['AMQP receive (consumer thread, decoding)'] == \
        0.75
    assert merged['threads'] == {'calls': 400, 'busiest_us_per_call': 1750.0,
                                 'others_us_per_call': 3500.0,
                                 'threads_that_ran': 30}


def test_merge_without_a_working_sampling_gives_the_error():
    assert profiling.merge([('x', {'error': 'py-spy is not installed'},
                             None)]) == {'error': 'py-spy is not installed'}


def test_our_servers_frames_count_in_their_parts():
    # What a proxy's stacks look like: QuietDispatcher, and the direct
    # read between calls (amqp_guard) outside the driver's poll.
    lines = [
        'run (x.py:1);QuietDispatcher.dispatch '
        '(nova_proxy/common/wire_guard.py:2) 2\n',
        'run (x.py:1);_drain_between_calls.<locals>.poll (g.py:3);'
        '_drain_once (nova_proxy/common/amqp_guard.py:4) 1\n',
        'run (x.py:1);_read_what_has_come '
        '(nova_proxy/common/hand_over.py:5) 1\n',
    ]
    shares = profiling.summarize(lines)['shares']
    assert shares['RPC dispatch (oslo.messaging dispatcher, our '
                  'remotable)'] == 0.5
    assert shares['AMQP receive (consumer thread, decoding)'] == 0.5
