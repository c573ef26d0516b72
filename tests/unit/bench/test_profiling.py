from nova_proxy.bench import profiling


def test_summarize_shares_of_parts():
    lines = [
        'run (x.py:1);RPCDispatcher.dispatch (d.py:2);instance_update '
        '(nova_proxy/db/api.py:3) 6\n',
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


def test_sampler_without_py_spy(monkeypatch, tmp_path):
    monkeypatch.setattr(profiling, '_py_spy', lambda: None)
    sampler = profiling.Sampler(1, 1, str(tmp_path / 'p.txt'))
    assert sampler.finish() == {'error': 'py-spy is not installed'}
