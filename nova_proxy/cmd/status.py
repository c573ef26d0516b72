"""``nova-compute-proxy-status``: checks before and after an upgrade.

    nova-compute-proxy-status [--config-file F] upgrade check [--json]

As ``nova-status upgrade check`` (oslo.upgradecheck): a table of checks,
each Success, Warning or Failure with what to do, and the exit status of
the worst: 0 all passed, 1 a warning, 2 a failure, 255 the checks could
not run. The checks read the database of ``[database] connection``:

* **Database schema**: at this release's newest revision.
* **Proxy releases**: every live proxy runs one release (warning while a
  rolling upgrade is half done, or when no proxy is live).
* **Signing keys**: with ``[proxy] require_signed_context``, the proxy key
  and a key for every compute host the services table names are present
  and readable in ``[proxy] host_keys_dir``.
* **Stuck operations**: no active operation left without a journal write
  for longer than it can legitimately take (``nova_proxy.proxy.status``).
* **Compute topics**: every compute service registers the topic this
  proxy calls compute hosts on (``[compute] topic``); a warning names
  the hosts of another (``foreign_topic``).
* **RPC server**: with ``[proxy] rpc_server = direct`` (the default), no
  ``[oslo_messaging_rabbit]`` or ``[oslo_messaging_tracing]`` option set
  that it does not support (the proxies would refuse to start). Read from
  the configuration alone: it runs with the database down too.
"""

import functools
import sys

from nova_proxy import cmd  # noqa: F401  (selects the threading backend)
from oslo_upgradecheck import upgradecheck

from nova_proxy.common import context as np_context
from nova_proxy.common import db_errors
from nova_proxy.common import keys
from nova_proxy.common import service
from nova_proxy import conf
from nova_proxy import exception

CONF = conf.CONF

Code = upgradecheck.Code
Result = upgradecheck.Result

# Ids or hosts named in a result; the rest are counted.
_SHOWN = 5


def _some(names):
    """The first ``_SHOWN`` of ``names``, then how many more: a result
    stays one readable line in a fleet of hundreds."""
    more = len(names) - _SHOWN
    return ', '.join(names[:_SHOWN]) + (
        ' and %d more' % more if more > 0 else '')


def _unreachable(error):
    """The failure of a check that could not reach the database; re-raises
    any other error (inside an ``except`` block)."""
    if not db_errors.is_database_unavailable(error):
        raise error
    return Result(Code.FAILURE, 'Cannot reach the database: %s; check '
                  '[database] connection' % db_errors.describe(error))


def _reads_database(check):
    """A check of the tables runs only on this release's schema (else it
    says "Not checked" and why: the "Database schema" check says what to
    do), and one that cannot reach the database fails with one line
    instead of ending every check with a traceback."""
    @functools.wraps(check)
    def wrapper(self):
        from nova_proxy.db import migration
        try:
            problem = migration.schema_problem()
            if problem is not None:
                return Result(Code.FAILURE, 'Not checked: %s.' % problem)
            return check(self)
        except Exception as e:
            return _unreachable(e)
    return wrapper


def _schema_result():
    from nova_proxy.db import migration
    problem = migration.schema_problem()
    if problem is None:
        return Result(Code.SUCCESS, 'At revision %s.'
                      % migration.head_revision())
    return Result(Code.FAILURE, '%s%s: run "nova-compute-proxy-manage '
                  'db sync".' % (problem[0].upper(), problem[1:]))


class Checks(upgradecheck.UpgradeCommands):
    """The checks of ``upgrade check``, in the order they print."""

    def _check_schema(self):
        try:
            return _schema_result()
        except Exception as e:
            return _unreachable(e)

    @_reads_database
    def _check_releases(self):
        from nova_proxy.proxy import status
        live = [p for p in status.gather()['proxies']
                if p['state'] == status.LIVE]
        if not live:
            return Result(Code.WARNING, 'No live proxy: start '
                          'nova-compute-proxy (no compute host can reach '
                          'the database meanwhile).')
        by_release = {}
        for proxy in live:
            by_release.setdefault(proxy['release'] or 'unknown (started '
                                  'before this check existed)',
                                  []).append(proxy['member'])
        if len(by_release) == 1:
            return Result(Code.SUCCESS, '%d live proxies, all on %s.' % (
                len(live), next(iter(by_release))))
        return Result(Code.WARNING, 'Live proxies run different releases: '
                      '%s. Finish the rolling upgrade (restart the others '
                      'on the new release) before removing '
                      '[upgrade_levels] caps.' % '; '.join(
                          '%s on %s' % (', '.join(members), release)
                          for release, members in sorted(
                              by_release.items())))

    @_reads_database
    def _check_keys(self):
        if not CONF.proxy.require_signed_context:
            return Result(Code.SUCCESS, 'Signing not required ([proxy] '
                          'require_signed_context = false).')
        problems = []
        try:
            keys.read_key_file(keys.proxy_key_path())
        except exception.InvalidKeyFile as e:
            problems.append('the proxy key: %s' % e)
        from nova_proxy.db import status as db_status
        hosts = db_status.compute_hosts(np_context.get_admin_context())
        missing = []
        for host in hosts:
            try:
                keys.read_key_file(keys.host_key_path(host))
            except exception.InvalidKeyFile:
                missing.append(host)
        if missing:
            problems.append('no readable key for compute host%s %s' % (
                's' if len(missing) > 1 else '', ', '.join(missing)))
        if problems:
            return Result(Code.FAILURE, 'Signed calls are required but %s: '
                          'create them with "nova-compute-proxy-manage key '
                          'create" (docs/security.rst).' % '; '.join(
                              problems))
        return Result(Code.SUCCESS, 'The proxy key and the keys of %d '
                      'compute hosts are present.' % len(hosts))

    @_reads_database
    def _check_stuck(self):
        from nova_proxy.proxy import status
        operations = status.gather()['operations']
        stuck = [op for op in operations if op['stuck']]
        if not stuck:
            return Result(Code.SUCCESS, '%d active operations, none stuck.'
                          % len(operations))
        shown = _some(['%s (%s of %s, step %s, owner %s)' % (
            op['id'], op['kind'], op['instance_uuid'], op['step'],
            op['owner']) for op in stuck])
        return Result(Code.FAILURE, '%d operations without a journal write '
                      'for over %ss: %s. Look at them with '
                      '"nova-compute-proxy-manage operation show ID" and '
                      'the logs of their owners.' % (
                          len(stuck), status.stuck_after(), shown))

    @_reads_database
    def _check_compute_topics(self):
        """A Warning, not a Failure: calls to a compute on another topic
        time out, but the topic read is the one its record got at its
        first start (``rpcapi.foreign_topic``), which a later change of
        its configuration leaves as it was, and this configuration file
        may not be the proxies'. Disabled and down services count: the
        proxies still call a disabled host for its instances, and a down
        one comes back with the same topic."""
        from nova_proxy.compute import rpcapi
        from nova_proxy.db import api as db_api
        services = db_api.service_get_all_by_binary(
            np_context.get_admin_context(), 'nova-compute',
            include_disabled=True)
        hosts = {}
        for record in services:
            topic = rpcapi.foreign_topic(record)
            if topic is not None:
                hosts.setdefault(topic, []).append(record['host'])
        ours = CONF.compute.topic
        if not hosts:
            return Result(Code.SUCCESS, 'No compute service registers '
                          'another topic than %r, the one this proxy '
                          'calls (%d services).' % (ours, len(services)))
        named = '; '.join('%r on %s' % (topic, _some(sorted(names)))
                          for topic, names in sorted(hosts.items()))
        count = sum(map(len, hosts.values()))
        return Result(Code.WARNING, "%d %s another topic than %r, the one "
                      "this proxy calls: %s. The proxies' calls to them time "
                      "out (ComputeUnavailable): set [compute] topic to the "
                      "same value in the proxies' and the computes' "
                      "configuration files, then mend a record older than "
                      "that with 'nova-compute-proxy-manage service "
                      "set-topic --host HOST'." % (
                          count, 'compute service registers' if count == 1
                          else 'compute services register', ours, named))

    def _check_rpc_server(self):
        if CONF.proxy.rpc_server != 'direct':
            return Result(Code.SUCCESS, "oslo.messaging's RPC server "
                          '([proxy] rpc_server = %s).'
                          % CONF.proxy.rpc_server)
        from nova_proxy.common import direct_amqp
        from nova_proxy.proxy import preflight
        # What the proxies check at start, without connecting.
        transport, problem = preflight.rpc_transport()
        if problem is not None:
            return Result(Code.FAILURE, 'The proxies would not start: %s.'
                          % problem)
        try:
            prefetch = direct_amqp.prefetch_count(CONF)
        finally:
            transport.cleanup()
        if prefetch == 0:
            return Result(Code.WARNING, direct_amqp.UNLIMITED_PREFETCH)
        return Result(Code.SUCCESS, 'The direct RPC server ([proxy] '
                      'rpc_server = direct) supports the options set.')

    _upgrade_checks = (
        ('Database schema', _check_schema),
        ('Proxy releases', _check_releases),
        ('Signing keys', _check_keys),
        ('Stuck operations', _check_stuck),
        ('Compute topics', _check_compute_topics),
        ('RPC server', _check_rpc_server),
    )


def main(argv=None):
    upgradecheck.register_cli_options(CONF, Checks())
    service.prepare_service(sys.argv if argv is None else argv)
    # check() reads --json from the module's CONF, which only
    # upgradecheck.main() sets; main() would parse the command line
    # itself, without prepare_service()'s one-line config errors and
    # logging set-up.
    upgradecheck.CONF = CONF
    return upgradecheck.run(CONF)


if __name__ == '__main__':
    sys.exit(main())
