"""nova's objects of an instance's children on live proxies: the info
cache, the objects kept in instance_extra (NUMA topology, PCI requests,
migration context, CPU model, device metadata, trusted certs, resources),
tags, and block device mappings, as nova-compute uses them; and what host
scope refuses it (another host's instance), or filters (a volume's
mappings across hosts).

Scenarios run in the nova object process (see conftest.py). Instances are
seeded by the control plane with the 1.x ``instance_create`` until nova's
is served on 2.x.
"""

import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy.db import models
from nova_proxy.proxy import rpcapi
from tests.functional.nova import conftest

VOLUME = '11111111-1111-4111-8111-111111111111'


def _errors(attempts, errors):
    """Run each attempt; the name of the nova error class it raised (one of
    ``errors``), or 'no error'."""
    found = {}
    for what, attempt in attempts.items():
        try:
            attempt()
            found[what] = 'no error'
        except errors as e:
            found[what] = type(e).__name__
    return found


def own_instance_children(ctx, host, own, migrating):
    from nova import exception
    from nova.network import model as network_model
    from nova import objects
    from oslo_serialization import jsonutils

    facts = {}
    # -- info cache: nova-compute saves the network info of its instances.
    facts['cache before'] = _errors({'get': lambda: (
        objects.InstanceInfoCache.get_by_instance_uuid(ctx, own))},
        exception.NotFound)['get']
    cache = objects.InstanceInfoCache.new(ctx, own)
    cache.network_info = network_model.NetworkInfo(
        [network_model.VIF(id='port-1', address='fa:16:3e:00:00:01')])
    cache.save()
    read = objects.InstanceInfoCache.get_by_instance_uuid(ctx, own)
    facts['cache'] = [[vif['id'] for vif in read.network_info],
                      read.updated_at is not None or
                      read.created_at is not None]
    read.network_info = network_model.NetworkInfo(
        [network_model.VIF(id='port-2')])
    read.save()
    facts['cache saved'] = [vif['id'] for vif in (
        objects.InstanceInfoCache.get_by_instance_uuid(ctx, own)
        .network_info)]

    # -- instance_extra, through each object that keeps itself there.
    facts['extra before'] = [
        objects.VirtCPUModel.get_by_instance_uuid(ctx, own),
        objects.TrustedCerts.get_by_instance_uuid(ctx, own),
        objects.ResourceList.get_by_instance_uuid(ctx, own),
        objects.InstanceDeviceMetadata.get_by_instance_uuid(ctx, own),
        len(objects.InstancePCIRequests.get_by_instance_uuid(
            ctx, own).requests)]
    objects.InstanceNUMATopology(ctx, instance_uuid=own, cells=[
        objects.InstanceNUMACell(id=0, cpuset=set([0, 1]), pcpuset=set(),
                                 memory=512)]).create()
    numa = objects.InstanceNUMATopology.get_by_instance_uuid(ctx, own)
    facts['numa'] = [sorted(numa.cells[0].cpuset), numa.cells[0].memory]
    from nova.db.main import api as db
    db.instance_extra_update_by_uuid(ctx, own, {
        'pci_requests': objects.InstancePCIRequests(requests=[
            objects.InstancePCIRequest(count=2, spec=[{'vendor_id': '8086'}])
        ]).to_json(),
        'vcpu_model': objects.VirtCPUModel(model='Haswell').to_json(),
        'device_metadata': objects.InstanceDeviceMetadata(devices=[])
        ._to_json(),
        'migration_context': jsonutils.dumps(objects.MigrationContext(
            instance_uuid=own, migration_id=7).obj_to_primitive())})
    facts['extra'] = [
        objects.InstancePCIRequests.get_by_instance_uuid(
            ctx, own).requests[0].count,
        objects.VirtCPUModel.get_by_instance_uuid(ctx, own).model,
        objects.InstanceDeviceMetadata.get_by_instance_uuid(
            ctx, own).devices,
        objects.MigrationContext.get_by_instance_uuid(
            ctx, own).migration_id]
    instance = objects.Instance(context=ctx, uuid=own)
    instance.migration_context = objects.MigrationContext.\
        get_by_instance_uuid(ctx, own)
    instance.drop_migration_context()
    facts['migration context dropped'] = objects.MigrationContext.\
        get_by_instance_uuid(ctx, own)

    # -- tags.
    objects.Tag(ctx, resource_id=own, tag='a').create()
    objects.Tag(ctx, resource_id=own, tag='a').create()  # no error
    facts['tag set'] = [t.tag for t in objects.TagList.create(
        ctx, own, ['b', 'c'])]
    facts['tag exists'] = [objects.Tag.exists(ctx, own, 'b'),
                           objects.Tag.exists(ctx, own, 'a')]
    objects.Tag.destroy(ctx, own, 'b')
    facts['tags'] = [t.tag for t in objects.TagList.get_by_resource_id(
        ctx, own)]
    facts['tag errors'] = _errors({
        'destroy again': lambda: objects.Tag.destroy(ctx, own, 'b')},
        exception.NotFound)

    # -- block device mappings.
    bdm = objects.BlockDeviceMapping(
        ctx, instance_uuid=own, source_type='volume',
        destination_type='volume', volume_id=VOLUME,
        device_name='/dev/vdb', delete_on_termination=False)
    bdm.create()
    bdm.connection_info = '{"driver_volume_type": "iscsi"}'
    bdm.save()
    swap = objects.BlockDeviceMapping(
        ctx, instance_uuid=own, source_type='blank',
        destination_type='local', guest_format='swap',
        device_name='/dev/vdc', volume_size=1, boot_index=-1)
    swap.update_or_create()
    new_swap = objects.BlockDeviceMapping(
        ctx, instance_uuid=own, source_type='blank',
        destination_type='local', guest_format='swap',
        device_name='/dev/vdd', volume_size=2, boot_index=-1)
    new_swap.update_or_create()
    facts['bdm'] = [len(bdm.uuid), bdm.id != swap.id,
                    new_swap.id != swap.id,
                    # enable()'s: a row with a uuid keeps it.
                    objects.BlockDeviceMapping._create_uuid(
                        ctx, bdm.id) == bdm.uuid]
    listed = objects.BlockDeviceMappingList.get_by_instance_uuid(ctx, own)
    facts['bdms'] = sorted([b.device_name, b.connection_info]
                           for b in listed)
    by_uuids = objects.BlockDeviceMappingList.bdms_by_instance_uuid(
        ctx, [own, migrating])
    facts['bdms by instances'] = sorted(
        [uuid == own, len(bdms)] for uuid, bdms in by_uuids.items())
    by_volume = objects.BlockDeviceMapping.get_by_volume_and_instance(
        ctx, VOLUME, own, expected_attrs=['instance'])
    facts['by volume and instance'] = [by_volume.id == bdm.id,
                                       by_volume.instance.uuid == own,
                                       by_volume.instance.host]
    # The volume is attached on the other host too: this one sees its own
    # mapping only, so nova finds no multi-attach here.
    facts['by volume'] = [
        objects.BlockDeviceMapping.get_by_volume(ctx, VOLUME).id == bdm.id,
        objects.BlockDeviceMapping.get_by_volume_id(
            ctx, VOLUME, instance_uuid=own).id == bdm.id,
        len(objects.BlockDeviceMappingList.get_by_volume(ctx, VOLUME))]
    # The other end of a migration in progress may add to the instance.
    objects.BlockDeviceMapping(
        ctx, instance_uuid=migrating, source_type='image',
        destination_type='local', boot_index=0,
        image_id='22222222-2222-4222-8222-222222222222').create()
    gone_id = swap.id
    bdm.destroy()
    gone = objects.BlockDeviceMapping(ctx)
    gone.id = gone_id
    gone.boot_index = 3
    facts['bdm errors'] = _errors({
        'save a deleted one': gone.save,
        'get a volume not attached': lambda: (
            objects.BlockDeviceMapping.get_by_volume(ctx, 'no-such-volume'))},
        exception.NotFound)
    facts['bdms at the end'] = sorted(
        b.device_name for b in
        objects.BlockDeviceMappingList.get_by_instance_uuid(ctx, own))
    return facts


def refused_for_another_host(ctx, host, other, other_bdm_id):
    from nova import exception
    from nova.network import model as network_model
    from nova import objects

    def save_theirs():
        theirs = objects.BlockDeviceMapping(ctx)
        theirs.id = other_bdm_id
        theirs.boot_index = 5
        theirs.save()

    def destroy_theirs():
        theirs = objects.BlockDeviceMapping(ctx)
        theirs.id = other_bdm_id
        theirs.destroy()

    def cache_save():
        cache = objects.InstanceInfoCache.new(ctx, other)
        cache.network_info = network_model.NetworkInfo([])
        cache.save()

    attempts = {
        'info cache get': lambda: (
            objects.InstanceInfoCache.get_by_instance_uuid(ctx, other)),
        'info cache save': cache_save,
        'info cache delete': lambda: objects.InstanceInfoCache.new(
            ctx, other).delete(),
        'numa get': lambda: objects.InstanceNUMATopology.
        get_by_instance_uuid(ctx, other),
        'numa create': objects.InstanceNUMATopology(
            ctx, instance_uuid=other, cells=[]).create,
        'pci requests get': lambda: objects.InstancePCIRequests.
        get_by_instance_uuid(ctx, other),
        'tag create': objects.Tag(ctx, resource_id=other, tag='x').create,
        'tag list set': lambda: objects.TagList.create(ctx, other, ['x']),
        'tag list get': lambda: objects.TagList.get_by_resource_id(
            ctx, other),
        'tag exists': lambda: objects.Tag.exists(ctx, other, 'keep'),
        'tag destroy': lambda: objects.Tag.destroy(ctx, other, 'keep'),
        'tag list destroy': lambda: objects.TagList.destroy(ctx, other),
        'bdm create': objects.BlockDeviceMapping(
            ctx, instance_uuid=other, source_type='image',
            destination_type='local').create,
        'bdm update or create': objects.BlockDeviceMapping(
            ctx, instance_uuid=other, source_type='image',
            destination_type='local', device_name='/dev/vdb')
        .update_or_create,
        'bdm save': save_theirs,
        'bdm destroy': destroy_theirs,
        'bdm uuid': lambda: objects.BlockDeviceMapping._create_uuid(
            ctx, other_bdm_id),
        'bdm list': lambda: objects.BlockDeviceMappingList.
        get_by_instance_uuid(ctx, other),
        'bdm lists': lambda: objects.BlockDeviceMappingList.
        bdms_by_instance_uuid(ctx, [other]),
        'bdm by volume and instance': lambda: objects.BlockDeviceMapping.
        get_by_volume_and_instance(ctx, VOLUME, other),
    }
    found = _errors(attempts, exception.NovaException)
    # Theirs is not among the volume's mappings this host sees.
    found['by volume'] = _errors({'get': lambda: (
        objects.BlockDeviceMapping.get_by_volume(ctx, VOLUME))},
        exception.NotFound)['get']
    return found


def _seed(nova):
    """Instances: one of HOST, one of OTHER_HOST, one of OTHER_HOST
    migrating to HOST; a mapping of the volume and tags on the other
    host's."""
    admin = np_context.get_admin_context()
    proxy = rpcapi.ProxyAPI(timeout=30)
    own, other, migrating = [
        proxy.instance_create(admin, {'host': host, 'node': host})['uuid']
        for host in (conftest.HOST, conftest.OTHER_HOST,
                     conftest.OTHER_HOST)]
    # instance_create makes an info cache, as nova's does: the scenario
    # starts from an instance without one (a soft-deleted one would read
    # as gone for good, as in nova).
    engine = sa.create_engine(nova.cluster.db_url)
    with engine.begin() as conn:
        conn.execute(sa.delete(models.InstanceInfoCache.__table__).where(
            models.InstanceInfoCache.__table__.c.instance_uuid == own))
    engine.dispose()
    proxy.migration_create(admin, {
        'instance_uuid': migrating, 'source_compute': conftest.OTHER_HOST,
        'dest_compute': conftest.HOST, 'status': 'migrating'})
    other_bdm = nova.control_plane('block_device_mapping_create', values={
        'instance_uuid': other, 'source_type': 'volume',
        'destination_type': 'volume', 'volume_id': VOLUME,
        'device_name': '/dev/vdb'}, legacy=False)
    nova.control_plane('instance_tag_add', instance_uuid=other, tag='keep')
    return own, other, migrating, other_bdm


def test_nova_compute_uses_its_instances_children(nova):
    own, other, migrating, other_bdm = _seed(nova)
    facts = nova.run(own_instance_children, own=own, migrating=migrating)
    assert facts['cache before'] == 'InstanceInfoCacheNotFound'
    assert facts['cache'] == [['port-1'], True]
    assert facts['cache saved'] == ['port-2']
    assert facts['extra before'] == [None, None, None, None, 0]
    assert facts['numa'] == [[0, 1], 512]
    assert facts['extra'] == [2, 'Haswell', [], 7]
    assert facts['migration context dropped'] is None
    assert facts['tag set'] == ['b', 'c']
    assert facts['tag exists'] == [True, False]
    assert facts['tags'] == ['c']
    assert facts['tag errors'] == {'destroy again': 'InstanceTagNotFound'}
    assert facts['bdm'] == [36, True, True, True]
    assert facts['bdms'] == [
        ['/dev/vdb', '{"driver_volume_type": "iscsi"}'], ['/dev/vdd', None]]
    # nova groups the mappings found: the migrating instance has none yet.
    assert facts['bdms by instances'] == [[True, 2]]
    assert facts['by volume and instance'] == [True, True, conftest.HOST]
    assert facts['by volume'] == [True, True, 1]
    assert facts['bdm errors'] == {
        'save a deleted one': 'BDMNotFound',
        'get a volume not attached': 'VolumeBDMNotFound'}
    assert facts['bdms at the end'] == ['/dev/vdd']
    # The control plane sees what the object process wrote.
    assert [t['tag'] for t in nova.control_plane(
        'instance_tag_get_by_instance_uuid', instance_uuid=own)] == ['c']
    assert [b['source_type'] for b in nova.control_plane(
        'block_device_mapping_get_all_by_instance',
        instance_uuid=migrating)] == ['image']
    # The own mapping of the volume was destroyed: the other host's stays.
    assert nova.control_plane('block_device_mapping_get_all_by_volume_id',
                              volume_id=VOLUME) == [other_bdm]

    refused = nova.run(refused_for_another_host, other=other,
                       other_bdm_id=other_bdm['id'])
    assert refused.pop('by volume') == 'VolumeBDMNotFound'
    assert refused == dict.fromkeys(refused, 'HostScopeViolation')
    assert len(refused) == 20
    # Nothing of theirs changed.
    assert nova.control_plane('block_device_mapping_get_all_by_instance',
                              instance_uuid=other) == [other_bdm]
    assert [t['tag'] for t in nova.control_plane(
        'instance_tag_get_by_instance_uuid', instance_uuid=other)] == [
        'keep']
