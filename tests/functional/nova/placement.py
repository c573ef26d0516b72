"""A placement API of the test's own, in memory, on loopback.

nova-compute talks to placement (its resource tracker reports the
node's inventory and traits at start and every period); a test that runs
a real nova-compute gives it this one (``[placement] auth_type = none``,
``endpoint_override = Placement.url``). It answers what nova 34's
report client asks for a new compute node, as placement answers it, and
404 to anything else; ``providers`` holds what was reported.
"""

import json
import re
import threading
from http import server as http_server
import uuid

__all__ = ['Placement']

VERSIONS = {'versions': [{
    'id': 'v1.0', 'max_version': '1.39', 'min_version': '1.0',
    'status': 'CURRENT', 'links': [{'rel': 'self', 'href': ''}]}]}

_PROVIDER = re.compile(r'/resource_providers/([0-9a-f-]+)(?:/(\w+))?$')
_PROVIDER_PARTS = ('inventories', 'traits', 'aggregates')


class Placement:

    def __init__(self):
        self.providers = {}
        self.requests = []
        self._lock = threading.Lock()
        self._server = http_server.ThreadingHTTPServer(
            ('127.0.0.1', 0), _handler(self))
        self.url = 'http://127.0.0.1:%d' % self._server.server_address[1]

    def start(self):
        threading.Thread(target=self._server.serve_forever,
                         name='placement', daemon=True).start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def handle(self, method, path, body):
        """``(status, body)`` of one request."""
        with self._lock:
            self.requests.append((method, path))
            route, _, query = path.partition('?')
            return self._route(method, route.rstrip('/'), query, body)

    def _provider(self, rp_uuid):
        rp = self.providers[rp_uuid]
        return {'uuid': rp_uuid, 'name': rp['name'],
                'generation': rp['generation'],
                'root_provider_uuid': rp_uuid,
                'parent_provider_uuid': rp['parent_provider_uuid'],
                'links': []}

    def _route(self, method, route, query, body):
        if route == '':
            return 200, VERSIONS
        if route == '/resource_providers':
            if method == 'POST':
                rp_uuid = body.get('uuid') or str(uuid.uuid4())
                self.providers[rp_uuid] = {
                    'name': body['name'], 'generation': 0,
                    'parent_provider_uuid': body.get('parent_provider_uuid'),
                    'inventories': {}, 'traits': [], 'aggregates': []}
                return 200, self._provider(rp_uuid)
            wanted = re.search(r'(?:uuid|in_tree)=([0-9a-f-]+)', query)
            return 200, {'resource_providers': [
                self._provider(u) for u in self.providers
                if not wanted or u == wanted.group(1)]}
        match = _PROVIDER.match(route)
        if match and match.group(1) in self.providers:
            rp = self.providers[match.group(1)]
            part = match.group(2)
            if part is None:
                return 200, self._provider(match.group(1))
            if part in _PROVIDER_PARTS:
                if method == 'PUT':
                    rp[part] = body[part]
                    rp['generation'] += 1
                return 200, {part: rp[part],
                             'resource_provider_generation':
                                 rp['generation']}
            if part == 'allocations':
                return 200, {'allocations': {},
                             'resource_provider_generation':
                                 rp['generation']}
        if route == '/traits':
            # Every trait nova asks about exists (it creates custom ones
            # with PUT /traits/<name> otherwise).
            names = re.search(r'name=in:([^&]+)', query)
            return 200, {'traits': names.group(1).split(',') if names
                         else []}
        if route.startswith('/traits/'):
            return 201, None
        if route.startswith('/allocations/'):
            return 200, {'allocations': {}}
        return 404, {'errors': [{'status': 404, 'title': 'Not Found',
                                 'detail': route}]}


def _handler(placement):

    class Handler(http_server.BaseHTTPRequestHandler):

        def log_message(self, *args):
            pass

        def _serve(self, with_body):
            body = None
            if with_body:
                length = int(self.headers.get('Content-Length') or 0)
                body = json.loads(self.rfile.read(length) or b'{}')
            status, reply = placement.handle(self.command, self.path, body)
            data = json.dumps(reply).encode() if reply is not None else b''
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.send_header('OpenStack-API-Version', 'placement 1.39')
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._serve(False)

        def do_DELETE(self):
            self._serve(False)

        def do_POST(self):
            self._serve(True)

        def do_PUT(self):
            self._serve(True)

    return Handler
