from nova_proxy.db import api


def test_instance_roundtrip(db_all, admin_context):
    created = api.instance_create(admin_context, {'host': 'h1',
                                                  'metadata': {'a': 'b'}})
    fetched = api.instance_get_by_uuid(admin_context, created['uuid'])
    assert fetched == created
