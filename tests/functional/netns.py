"""A host of the test's own in a network namespace, whose links to the
broker and to the database can be cut: a real partition.

``Host(name)`` makes a network namespace with two veth pairs, one per
service, each a /30 of 10.231.0.0/16: the namespace side holds the .2
address, the machine side the .1 address, where a relay
(``broker_cut.BrokerCut``) forwards to the shared RabbitMQ or PostgreSQL
on 127.0.0.1 (which listen on loopback only, and RabbitMQ's ``guest``
only takes loopback connections). A process started with
``host.prefix`` (``ip netns exec ...``) reaches the services only through
those links.

``cut('broker')`` sets the machine side of that link down: packets are
then dropped silently, both ways (new connections time out, open ones
stall with their data held by TCP), as in a network partition, not
refused as by a stopped server. ``heal()`` sets it up again: open
connections that TCP kept resume.

Needs root and ``ip`` (iproute2); only addresses of these links and
loopback are used.
"""

import itertools
import os
import shutil
import subprocess
import urllib.parse
import uuid

from tests.functional import broker_cut

__all__ = ['available', 'Host']

SERVICES = ('broker', 'database')
_subnets = itertools.count(1)


def available():
    return os.geteuid() == 0 and shutil.which('ip') is not None


def _ip(*args, namespace=None):
    argv = ['ip']
    if namespace:
        argv += ['netns', 'exec', namespace, 'ip']
    subprocess.run(argv + list(args), check=True, timeout=30,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


class Host:

    def __init__(self, name):
        suffix = uuid.uuid4().hex[:6]
        self.name = name
        self.namespace = 'np-%s-%s' % (name, suffix)
        self.links = {}
        self.relays = {}
        self._made = []

    @property
    def prefix(self):
        """Run a command in the namespace: ``prefix + argv``."""
        return ['ip', 'netns', 'exec', self.namespace]

    def start(self, upstreams):
        """:param upstreams: ``{'broker': (host, port), 'database': (host,
        port)}``, the services on loopback."""
        _ip('netns', 'add', self.namespace)
        self._made.append(('netns', self.namespace))
        _ip('link', 'set', 'lo', 'up', namespace=self.namespace)
        for service, upstream in upstreams.items():
            # Interface names are 15 characters at most.
            outside = 'npo%s' % uuid.uuid4().hex[:8]
            inside = 'npi%s' % uuid.uuid4().hex[:8]
            subnet = next(_subnets) % 250 + 1
            # 10.231.<pid-based>.<subnet*4>: distinct across processes
            # running tests at once.
            third = os.getpid() % 250 + 1
            base = '10.231.%d.%d' % (third, subnet * 4 % 252)
            machine = _address(base, 1)
            here = _address(base, 2)
            _ip('link', 'add', outside, 'type', 'veth', 'peer', 'name',
                inside)
            self._made.append(('link', outside))
            _ip('link', 'set', inside, 'netns', self.namespace)
            _ip('addr', 'add', machine + '/30', 'dev', outside)
            _ip('link', 'set', outside, 'up')
            _ip('addr', 'add', here + '/30', 'dev', inside,
                namespace=self.namespace)
            _ip('link', 'set', inside, 'up', namespace=self.namespace)
            relay = broker_cut.BrokerCut(
                'tcp://%s:%d' % upstream, bind=machine).start()
            self.links[service] = outside
            self.relays[service] = relay
        return self

    def address(self, service):
        """``(host, port)`` that reaches ``service`` from the namespace."""
        relay = self.relays[service]
        return relay.bind, relay.port

    def url(self, service, url):
        """``url`` (of the service on loopback) as the namespace reaches
        it."""
        host, port = self.address(service)
        parts = urllib.parse.urlsplit(url)
        credentials = (parts.netloc.rsplit('@', 1)[0] + '@'
                       if '@' in parts.netloc else '')
        return parts._replace(
            netloc='%s%s:%d' % (credentials, host, port)).geturl()

    def cut(self, service):
        _ip('link', 'set', self.links[service], 'down')

    def heal(self, service):
        _ip('link', 'set', self.links[service], 'up')

    def stop(self):
        for relay in self.relays.values():
            relay.stop()
        for kind, name in reversed(self._made):
            argv = (['link', 'del', name] if kind == 'link'
                    else ['netns', 'del', name])
            subprocess.run(['ip'] + argv, timeout=30,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


def _address(base, last):
    parts = base.split('.')
    parts[3] = str(int(parts[3]) + last)
    return '.'.join(parts)
