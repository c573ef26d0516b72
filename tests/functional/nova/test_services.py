"""nova's Service and ServiceList objects on live proxies: what
nova-compute does with its service record (create at start, save on each
report, reads by host and binary, the minimum version), and what host
scope refuses it (another host's record, the lists of all hosts, delete).

Scenarios run in the nova object process (see conftest.py).
"""

from tests.functional import nova as nova_tests
from tests.functional.nova import conftest


def create_and_report(ctx, host):
    from nova.db.main import api as db
    from nova import exception
    from nova import objects
    from nova.objects import service as service_obj

    service = objects.Service(ctx, host=host, binary='nova-compute',
                              topic='compute', report_count=0)
    service.create()
    facts = {'id': service.id, 'uuid': service.uuid,
             'version': service.version,
             'service_version': service_obj.SERVICE_VERSION,
             'created_at': service.created_at.isoformat(),
             'last_seen_up': service.last_seen_up}

    # What nova's servicegroup DB driver does at each report, then an
    # operator-style disable through the object.
    service.report_count += 1
    service.save()
    facts['reported'] = [service.report_count,
                         service.last_seen_up is not None]
    facts['by_topic'] = objects.Service.get_by_host_and_topic(
        ctx, host, 'compute').id
    service.disabled = True
    service.disabled_reason = 'maintenance'
    service.save()

    # use_slave: nova's select_db_reader_mode picks the async reader of
    # get_context_manager(), which here has no database behind it.
    reads = [objects.Service.get_by_compute_host(ctx, host),
             objects.Service.get_by_compute_host(ctx, host, use_slave=True),
             objects.Service.get_by_id(ctx, service.id),
             objects.Service.get_by_uuid(ctx, service.uuid),
             objects.Service.get_by_args(ctx, host, 'nova-compute'),
             objects.Service.get_by_host_and_binary(ctx, host,
                                                    'nova-compute')]
    facts['reads'] = [[s.id, s.report_count, s.disabled, s.disabled_reason]
                      for s in reads]
    # nova's query skips disabled services here.
    facts['disabled_by_topic'] = db.service_get_by_host_and_topic(
        ctx, host, 'compute')
    facts['own_list'] = [s.id for s in objects.ServiceList.get_by_host(
        ctx, host)]
    facts['minimum'] = objects.Service.get_minimum_version(
        ctx, 'nova-compute', use_slave=True)

    # nova catches its own HostBinaryNotFound here and returns None.
    facts['no_such_binary'] = objects.Service.get_by_host_and_binary(
        ctx, host, 'nova-nonexistent')
    with_errors = []
    try:
        objects.Service(ctx, host=host, binary='nova-compute',
                        topic='compute').create()
    except exception.ServiceBinaryExists as e:
        with_errors.append(['ServiceBinaryExists', e.kwargs['host']])
    try:
        objects.Service.get_by_id(ctx, service.id + 1000)
    except exception.ServiceNotFound as e:
        with_errors.append(['ServiceNotFound', e.kwargs['service_id']])
    facts['errors'] = with_errors
    return facts


def read_back(ctx, host, service_id):
    from nova import objects
    service = objects.Service.get_by_compute_host(ctx, host)
    return [service.id == service_id, service.report_count,
            service.disabled, service.disabled_reason]


def create_service(ctx, host):
    from nova import objects
    service = objects.Service(ctx, host=host, binary='nova-compute',
                              topic='compute')
    service.create()
    return service.id


def refused_to_another_host(ctx, host, other_host, other_id):
    from nova import objects

    own = objects.Service(ctx, host=host, binary='nova-compute',
                          topic='compute')
    own.create()

    def save_theirs():
        theirs = objects.Service(ctx)
        theirs.id = other_id
        theirs.report_count = 5
        theirs.save()

    attempts = {
        'create for another host': lambda: objects.Service(
            ctx, host=other_host, binary='nova-conductor',
            topic='conductor').create(),
        'get by host': lambda: objects.Service.get_by_compute_host(
            ctx, other_host),
        'get by id': lambda: objects.Service.get_by_id(ctx, other_id),
        'save': save_theirs,
        'list by binary': lambda: objects.ServiceList.get_by_binary(
            ctx, 'nova-compute'),
        'list by topic': lambda: objects.ServiceList.get_by_topic(
            ctx, 'compute'),
        'list all': lambda: objects.ServiceList.get_all(ctx),
        'destroy': own.destroy,
    }
    refused = nova_tests.refusals(attempts)
    # Still there: the refused destroy changed nothing.
    refused['own after all'] = objects.Service.get_by_compute_host(
        ctx, host).id == own.id
    return refused


def test_nova_compute_creates_reports_and_reads_its_service(nova):
    facts = nova.run(create_and_report, host=conftest.HOST)
    assert isinstance(facts['id'], int)
    assert len(facts['uuid']) == 36
    assert facts['version'] == facts['service_version']
    assert facts['created_at'].endswith('+00:00')
    assert facts['last_seen_up'] is None
    assert facts['reported'] == [1, True]
    assert facts['by_topic'] == facts['id']
    assert facts['reads'] == [
        [facts['id'], 1, True, 'maintenance']] * 6
    assert facts['disabled_by_topic'] is None
    assert facts['own_list'] == [facts['id']]
    assert facts['minimum'] == facts['service_version']
    assert facts['no_such_binary'] is None
    assert facts['errors'] == [
        ['ServiceBinaryExists', conftest.HOST],
        ['ServiceNotFound', facts['id'] + 1000]]
    # Another process, nothing cached: the proxies' database has it.
    assert nova.run(read_back, host=conftest.HOST,
                    service_id=facts['id']) == [True, 1, True,
                                                'maintenance']


def test_a_compute_is_refused_other_hosts_services_and_the_lists(nova):
    other_id = nova.run(create_service, host=conftest.OTHER_HOST)
    refused = nova.run(refused_to_another_host, host=conftest.HOST,
                       other_host=conftest.OTHER_HOST, other_id=other_id)
    # Both are nova's Forbidden to nova's code: HostScopeViolation (a
    # record of another host) is ours and nova's; a call only the control
    # plane makes is refused with Forbidden, nova's class of that name.
    assert refused == {
        'create for another host': 'HostScopeViolation',
        'get by host': 'HostScopeViolation',
        'get by id': 'HostScopeViolation',
        'save': 'HostScopeViolation',
        'list by binary': 'Forbidden',
        'list by topic': 'Forbidden',
        'list all': 'Forbidden',
        'destroy': 'Forbidden',
        'own after all': True,
    }
    # The control plane sees both, the other host's as it was.
    services = nova.control_plane('service_get_all_by_binary',
                                  binary='nova-compute')
    assert sorted(s['host'] for s in services) == [conftest.HOST,
                                                   conftest.OTHER_HOST]
    assert nova.control_plane('service_get',
                              service_id=other_id)['report_count'] == 0
