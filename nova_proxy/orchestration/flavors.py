"""An instance's flavor as nova keeps it, for the flows.

nova keeps an instance's flavor in ``instance_extra.flavor``: JSON of
``{'cur': .., 'old': .., 'new': ..}``, each a ``Flavor`` object primitive
(``nova_object.name`` ``Flavor``, version 1.2) or None, with
``instance_type_id``, ``memory_mb``, ``vcpus``, ``root_gb`` and
``ephemeral_gb`` on the instance row copied from ``cur``
(``ComputeManager._set_instance_info``). The flows write both, at the
moments nova does:

==================  ===========================  ==========================
moment              nova (who)                   extra.flavor
==================  ===========================  ==========================
build accepted      Instance.create (API)        cur
resize accepted     prep_resize (destination)    new set
finish_resize       finish_resize (destination)  old = cur, cur = new
confirm             confirm_resize (source)      old, new = None
revert / rollback   finish_revert_resize         cur = old; old, new = None
==================  ===========================  ==========================

The orchestration writes them itself rather than leaving them to the
compute, so a 1.x compute (which knows no ``instance_extra``) and a
nova-compute on the 2.x shim read the same flavor afterwards.

A flavor travels in an operation's state and in the compute calls as the
proxy's flavor dict (``name``, ``memory_mb``, ``vcpus``, ``root_gb``,
``id`` when known); ``primitive()`` makes nova's object of it, keeping
the fields of the flavor it came from (``flavorid``, ``ephemeral_gb``,
``swap``, ``extra_specs``, ...) so a resize and its revert give nova
back the flavor it had. The instance's ``instance_type_name`` (ours, for
the 1.x clients) follows ``cur``'s name.
"""

from oslo_serialization import jsonutils

from nova_proxy.db import api as db_api

__all__ = ['FLAVOR_FIELDS', 'primitive', 'compact', 'extra_json',
           'instance_values', 'current', 'write', 'name_of']

# The proxy's flavor dict: these, and ``id`` when known.
FLAVOR_FIELDS = ('name', 'memory_mb', 'vcpus', 'root_gb')

_VERSION = '1.2'
# What a nova Flavor has beyond the proxy's fields, and nova's defaults
# for a flavor created without them (``nova.objects.flavor``); not
# ``projects``, which nova never stores with an instance.
_DEFAULTS = {'ephemeral_gb': 0, 'swap': 0, 'rxtx_factor': 1.0,
             'vcpu_weight': None, 'disabled': False, 'is_public': True,
             'extra_specs': {}, 'description': None}


def primitive(flavor, base=None):
    """nova's ``Flavor`` primitive of the proxy's ``flavor`` dict. When
    ``base`` (a primitive) is the same flavor (same ``id`` and name), its
    other fields are kept; else they are nova's defaults, and
    ``flavorid`` is the id (or the name when there is none)."""
    base_data = base['nova_object.data'] if base else {}
    data = dict(_DEFAULTS)
    if base_data and base_data.get('id') == flavor.get('id') and \
            base_data.get('name') == flavor['name']:
        data.update(base_data)
    data.update({field: flavor[field] for field in FLAVOR_FIELDS})
    data.update({field: flavor[field] for field in _DEFAULTS
                 if field in flavor})
    if flavor.get('id') is not None:
        data['id'] = flavor['id']
    if data.get('flavorid') is None:
        data['flavorid'] = str(flavor['id']) if flavor.get('id') \
            is not None else flavor['name']
    return {'nova_object.name': 'Flavor', 'nova_object.namespace': 'nova',
            'nova_object.version': _VERSION, 'nova_object.data': data,
            'nova_object.changes': sorted(data)}


def compact(flavor_primitive):
    """The proxy's flavor dict of nova's primitive."""
    data = flavor_primitive['nova_object.data']
    flavor = {field: data.get(field) for field in FLAVOR_FIELDS}
    if data.get('id') is not None:
        flavor['id'] = data['id']
    return flavor


def extra_json(cur, old=None, new=None):
    """``instance_extra.flavor`` of these primitives, as nova's
    ``Instance._save_flavor`` writes it."""
    return jsonutils.dumps({'cur': cur, 'old': old, 'new': new})


def instance_values(flavor_primitive):
    """The instance columns nova's ``_set_instance_info`` copies from its
    flavor (an ``id`` of None leaves ``instance_type_id`` as it is), and
    our ``instance_type_name``."""
    data = flavor_primitive['nova_object.data']
    values = {'memory_mb': data['memory_mb'], 'vcpus': data['vcpus'],
              'root_gb': data['root_gb'],
              'ephemeral_gb': data.get('ephemeral_gb') or 0,
              'instance_type_name': data['name']}
    if data.get('id') is not None:
        values['instance_type_id'] = data['id']
    return values


def _from_columns(instance):
    flavor = {'name': instance['instance_type_name'],
              'memory_mb': instance['memory_mb'], 'vcpus': instance['vcpus'],
              'root_gb': instance['root_gb'],
              'ephemeral_gb': instance.get('ephemeral_gb') or 0}
    if instance['instance_type_id'] is not None:
        flavor['id'] = instance['instance_type_id']
    return primitive(flavor)


def current(context, instance):
    """``(cur, old, new)`` primitives of ``instance`` (a row): its
    ``instance_extra.flavor``, or, for an instance written without one
    (by the 1.x calls), ``cur`` made from its columns."""
    extra = db_api.instance_extra_get_by_instance_uuid(
        context, instance['uuid'], columns=['flavor'])
    if extra and extra.get('flavor'):
        info = jsonutils.loads(extra['flavor'])
        if info.get('cur'):
            return info['cur'], info.get('old'), info.get('new')
    return _from_columns(instance), None, None


def write(context, instance_uuid, cur, old=None, new=None):
    """Store the instance's flavors in its ``instance_extra``."""
    db_api.instance_extra_update_by_uuid(
        context, instance_uuid, {'flavor': extra_json(cur, old, new)})


def name_of(instance):
    """The name of ``instance``'s current flavor: ``cur`` of its joined
    ``extra`` (``columns_to_join=['extra.flavor']``), else its
    ``instance_type_name``, as the 1.x calls wrote it."""
    extra = instance.get('extra') or {}
    if extra.get('flavor'):
        cur = jsonutils.loads(extra['flavor']).get('cur')
        if cur:
            return cur['nova_object.data'].get('name')
    return instance.get('instance_type_name')
