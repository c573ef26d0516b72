"""What two live proxies do with a message on their topic, worked out
before it is sent, for the wire fuzzer (``tests/functional/fuzz.py``).

``fate(body)`` applies the rules the proxies apply, taken from the guards
themselves rather than restated: ``[proxy] max_request_bytes``
(``nova_proxy.common.amqp_guard``), the rabbit driver's own decoding, and
``nova_proxy.common.wire_guard.screen``. ``body_of_call`` gives the bytes
an oslo.messaging client publishes for a call, so a call's fate is known
before it is made. ``LateAnswers`` collects the ids of replies that came
after their caller stopped waiting, so that "dropped, never answered" is
checked beyond the short wait for it.
"""

import collections
import logging
import types
import uuid

import kombu.serialization
from oslo_messaging._drivers import amqp as rpc_amqp
from oslo_messaging._drivers import common as rpc_common
from oslo_messaging._drivers import impl_rabbit

from nova_proxy.common import wire_guard
from nova_proxy import conf

__all__ = ['fate', 'body_of_call', 'LateAnswers']


def fate(body):
    """What the proxies do with ``body`` (the bytes of one message on
    their topic): None if they serve it (and answer, when it names a reply
    queue), else the kind (``wire_guard.KINDS``) it is dropped as,
    unanswered.

    Worked out with the rules the proxies themselves apply, in their
    order: ``[proxy] max_request_bytes`` (``amqp_guard``, on the body's
    length), the rabbit driver's own decoding (kombu's, then
    ``RabbitMessage``: what it cannot decode is dropped as ``malformed``),
    then ``wire_guard.screen`` on the incoming message the driver builds
    from it."""
    if len(body) > conf.CONF.proxy.max_request_bytes:
        return 'too_large'
    try:
        payload = kombu.serialization.loads(body, 'application/json',
                                            'utf-8')
        message = impl_rabbit.RabbitMessage(
            types.SimpleNamespace(payload=payload))
    except Exception:
        return 'malformed'
    # What RpcAMQPListener gives the server for it (AMQPIncomingMessage).
    context = rpc_amqp.unpack_context(message)
    problem = wire_guard.screen(types.SimpleNamespace(
        ctxt=context.to_dict(), message=message,
        orig_msg_id=context.msg_id, reply_q=context.reply_q,
        client_timeout=context.client_timeout))
    return problem[0] if problem else None


def body_of_call(cctxt, context, method, args):
    """The bytes oslo.messaging's rabbit driver publishes for
    ``cctxt.call(context, method, **args)`` (as ``AMQPDriverBase._send``
    builds them), with ids of their length; raises what the driver
    would if the call cannot be encoded."""
    message = cctxt._make_message(context, method, args)
    message.update({'_msg_id': uuid.uuid4().hex,
                    '_reply_q': 'reply_' + uuid.uuid4().hex,
                    '_timeout': None,
                    rpc_amqp.UNIQUE_ID: uuid.uuid4().hex})
    rpc_amqp.pack_context(message, context)
    _, _, body = kombu.serialization.dumps(
        rpc_common.serialize_msg(message), serializer='json')
    return body.encode('utf-8')


class LateAnswers(logging.Handler):
    """The message ids of replies that came after their caller stopped
    waiting: oslo.messaging's reply thread logs each (at INFO) and drops
    it."""

    LOGGER = 'oslo_messaging._drivers.amqpdriver'

    def __init__(self):
        super().__init__(logging.INFO)
        self.ids = collections.deque()
        self._logger = logging.getLogger(self.LOGGER)
        self._level = self._logger.level

    def emit(self, record):
        if (str(record.msg).startswith('No calling threads waiting')
                and record.args):
            self.ids.append(str(record.args[0]))

    def install(self):
        if self._logger.getEffectiveLevel() > logging.INFO:
            self._logger.setLevel(logging.INFO)
        self._logger.addHandler(self)

    def remove(self):
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)

    def take(self):
        """The ids logged since the last ``take``."""
        ids = []
        while self.ids:
            ids.append(self.ids.popleft())
        return ids
