"""Every function of nova's drop-in is one ``_client.call`` of the 2.x
method of its own name, with its arguments by their names, and that
method is in ``rpcapi.NOVA_METHODS``. (That the signatures are nova's is
checked in a nova process: test_nova.py.)"""

import inspect

import pytest

from nova_proxy.compute import db as shim
from nova_proxy.compute.db import _client
from nova_proxy.compute.db import _helpers
from nova_proxy.proxy import rpcapi

CALLS = sorted(set(shim.__all__) - set(_helpers.__all__))

# Calls sent as another wire method, on purpose (their module says why):
# name -> (method, the arguments it gets instead).
REDIRECTED = {
    'console_auth_token_destroy_expired': (
        'console_auth_token_destroy_expired_by_host',
        lambda args: {'host': _client.this_host()}),
}


def test_every_call_is_a_2x_wire_method():
    assert CALLS
    assert set(CALLS) <= set(rpcapi.NOVA_METHODS)
    for name in CALLS:
        assert rpcapi.NOVA_METHODS[name][0].startswith('2.')


@pytest.mark.parametrize('name', CALLS)
def test_a_call_sends_its_arguments_by_name(name, monkeypatch):
    sent = []

    class Client:
        def prepare(self, version=None, **deadline):
            # rpc.call_within prepares each attempt's timeout and retry=0.
            if version is not None:
                sent.append(version)
            return self

        def call(self, context, method, **kwargs):
            sent.append((method, kwargs))
            return None

    monkeypatch.setattr(_client, '_get_client', Client)
    fn = getattr(shim, name)
    params = list(inspect.signature(fn).parameters)[1:]
    args = {param: 'v-%s' % param for param in params}
    fn({'request_id': 'r'}, **args)
    method, sent_args = name, args
    if name in REDIRECTED:
        method, redirect = REDIRECTED[name]
        sent_args = redirect(args)
    assert sent == [rpcapi.NOVA_METHODS[method][0], (method, sent_args)]
