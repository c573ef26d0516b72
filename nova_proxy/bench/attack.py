"""Bad messages, as a compute node holding no key could send them.

``BadTraffic`` writes raw AMQP messages (kombu, no oslo.messaging) on a
topic of an oslo.messaging exchange, framed as oslo.messaging's rabbit
driver frames a call, with whatever the sender likes in them. The
benchmark's ``proxy-signed-burst-1`` scenario sends ``burst()`` before
each round; the functional tests (tests/functional/test_wire_guard.py)
send each kind on its own.
"""

import json
import uuid

import kombu

__all__ = ['BadTraffic', 'FORGED']

# A context with a signature that does not check: a compute host's key
# id, a zero MAC, a timestamp long past.
FORGED = {'compute_host': 'compute-1', 'signature': {
    'v': 1, 'by': 'compute', 'key': 'host:compute-1', 'to': None,
    'ts': 1.0, 'nonce': '0' * 32, 'mac': '0' * 64}}


class BadTraffic:
    """A publisher on ``topic`` of ``exchange`` at the broker ``url``
    (oslo.messaging's ``rabbit://`` or kombu's ``amqp://``)."""

    def __init__(self, url, exchange, topic):
        self.exchange = exchange
        self.topic = topic
        # kombu spells oslo.messaging's rabbit:// as amqp://.
        if url.startswith('rabbit://'):
            url = 'amqp://' + url[len('rabbit://'):]
        self.connection = kombu.Connection(url)
        self.producer = self.connection.Producer()

    def publish(self, body, serializer='json'):
        self.producer.publish(body, exchange=self.exchange,
                              routing_key=self.topic, serializer=serializer)

    def call(self, method='instance_get_by_uuid', args=None,
             reply_q='missing', msg_id='fresh', context=None,
             version='1.0', **extra):
        """A call; ``reply_q='missing'`` names a reply queue that does not
        exist, None leaves ``_reply_q`` out; ``extra`` are more keys of
        the message (``_timeout``, ...)."""
        message = {'method': method, 'version': version,
                   'args': {'instance_uuid': str(uuid.uuid4())}
                   if args is None else args,
                   '_unique_id': uuid.uuid4().hex}
        if msg_id is not None:
            message['_msg_id'] = (uuid.uuid4().hex if msg_id == 'fresh'
                                  else msg_id)
        if reply_q is not None:
            message['_reply_q'] = ('reply_' + uuid.uuid4().hex
                                   if reply_q == 'missing' else reply_q)
        for key, value in (context or {'compute_host': 'compute-1'}).items():
            message['_context_' + key] = value
        message.update(extra)
        self.publish({'oslo.version': '2.0',
                      'oslo.message': json.dumps(message)})

    def burst(self, count):
        """``count`` bad messages, five kinds in turn: unsigned with a
        missing reply queue, a forged signature with a missing reply
        queue, no reply queue at all, malformed arguments, an unknown
        method."""
        for n in range(count):
            kind = n % 5
            if kind == 0:
                self.call()
            elif kind == 1:
                self.call(context=FORGED)
            elif kind == 2:
                self.call(reply_q=None)
            elif kind == 3:
                self.call(args=['not', 'a', 'dict'])
            else:
                self.call(method='no_such_method')

    def close(self):
        self.connection.release()
