"""``nova-compute-proxy-manage service``: the service records, and the
one field of them an operator may have to mend by hand.

    nova-compute-proxy-manage service list [--binary B] [-f FORMAT]
        [-c COLUMN ...]
    nova-compute-proxy-manage service set-topic --host HOST [--topic T]

``list`` prints every live service record: id, host, binary, topic,
whether it is disabled or forced down, and its last heartbeat (the
database's clock). Under the table, the compute services whose record
names another topic than ``[compute] topic`` (``rpcapi.foreign_topic``).

``set-topic`` writes the topic of a host's ``nova-compute`` record:
``[compute] topic`` of this configuration, unless ``--topic`` names one
(the topic the compute listens on, as its start warning says). A
compute writes its topic in its record at its first start only, and may
not change it afterwards (``service_update``'s host scope), so after
``[compute] topic`` changed on the proxies and the computes, the record
still names the old one: the upgrade check "Compute topics", and the
reason of a call to the host that timed out, go on pointing at it. The
proxies call ``[compute] topic``, never the record's topic, so the record
is what this mends, not the routing. Only ``nova-compute`` records: the
default topic is a compute's, and another binary's record holding it
would take the host's (host, topic) key from its compute.
"""

from nova_proxy.common import context as np_context
from nova_proxy.common import output
from nova_proxy import conf
from nova_proxy import exception

CONF = conf.CONF

__all__ = ['add_parsers', 'list_services', 'set_topic']

_COLUMNS = ('id', 'host', 'binary', 'topic', 'disabled', 'forced_down',
            'last_seen_up')
_COMPUTE = 'nova-compute'


def list_services():
    from nova_proxy.compute import rpcapi
    from nova_proxy.db import api as db_api
    context = np_context.get_admin_context()
    records = db_api.service_get_all(context)
    binary = CONF.command.service_binary
    if binary is not None:
        records = [r for r in records if r['binary'] == binary]
    records.sort(key=lambda r: (r['binary'], r['host'], r['id']))
    output.emit_list(_COLUMNS, [[r[c] for c in _COLUMNS] for r in records])
    if CONF.command.output_format != 'table':
        return
    if not records:
        print('No service records%s.' % (
            '' if binary is None else ' of binary %r' % binary))
        return
    foreign = [r for r in records if r['binary'] == _COMPUTE and
               rpcapi.foreign_topic(r) is not None]
    if foreign:
        print('%d compute %s another topic than %r, the one the proxies '
              'call ([compute] topic): %s; once the computes listen on %r, '
              '"service set-topic --host HOST" mends each record.' % (
                  len(foreign), 'service names' if len(foreign) == 1
                  else 'services name', CONF.compute.topic,
                  ', '.join(r['host'] for r in foreign), CONF.compute.topic))


def set_topic():
    from nova_proxy.db import api as db_api
    host, topic = CONF.command.service_host, CONF.command.service_topic
    if topic is None:
        topic = CONF.compute.topic
    if not topic.strip():
        raise exception.InvalidUpdate(field='topic', reason='empty')
    context = np_context.get_admin_context()
    record = db_api.service_get_by_host_and_binary(context, host, _COMPUTE)
    if record['topic'] == topic:
        print('Service %d (%s on %s) has topic %r already.' % (
            record['id'], _COMPUTE, host, topic))
        return
    try:
        db_api.service_update(context, record['id'], {'topic': topic})
    except exception.Conflict:
        # The only key a new topic can take is nova's (host, topic) of
        # the live services: another service of this host has it.
        raise exception.ServiceTopicExists(host=host, topic=topic)
    print('Service %d (%s on %s): topic %r, was %r.' % (
        record['id'], _COMPUTE, host, topic, record['topic']))


def add_parsers(subparsers):
    parser = subparsers.add_parser(
        'service', help='Service records (nova-compute and others).')
    actions = parser.add_subparsers(dest='action')
    actions.required = True
    listing = actions.add_parser(
        'list', help='The live service records, and the compute services '
                     'whose record names another topic.')
    listing.add_argument('--binary', dest='service_binary',
                         help='Only services of this binary (for example '
                              'nova-compute).')
    output.add_list_options(listing)
    listing.set_defaults(func=list_services)
    topic = actions.add_parser(
        'set-topic', help="Write the topic of a host's nova-compute record "
                          '(after [compute] topic changed on the proxies '
                          'and the computes).')
    # Our own names: a sub-command's arguments sit beside the options of
    # the DEFAULT group (host, among them) in oslo.config.
    topic.add_argument('--host', dest='service_host', required=True,
                       help='The compute host.')
    topic.add_argument('--topic', dest='service_topic',
                       help='The topic to write (default: [compute] topic '
                            'of this configuration).')
    topic.set_defaults(func=set_topic)
