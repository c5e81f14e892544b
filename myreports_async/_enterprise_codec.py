"""The Enterprise records' wire format: their field tables, envelopes, and request bodies.

The tables are built by ``_codec`` from the records (``_enterprise_models``), exactly as
the invoice's: a JSON key is the attribute's name in camelCase unless ``_codec._RENAMES``
says otherwise. The same tables turn the caller's snake_case names into JSON names on
the way out, so a create body and a patch use the keys the records are read with.

Rule 1 (patches): an update is a JSON Patch array of ``replace`` operations, one per
        changed field, in the caller's order. ``replace`` only: it is the one operation
        the service documents, and the one that is idempotent (so a PATCH may be
        retried like a read). A key that is not a field of the record, or ``id``, is a
        ``ValueError`` before any request: the service would answer 400 after the
        round trip, and a typo would otherwise look like a service fault.
Rule 2 (create bodies): fields left ``None`` are not sent, so the service applies its
        own default (``Inherited`` for a timezone) instead of an explicit null.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._codec import Envelopes, _RecordCodec, json_keys
from ._enterprise_models import (
    Account,
    AccountMetrics,
    Customer,
    CustomerMetrics,
    PbxConnection,
    PbxInstance,
    PbxProfile,
    User,
)

__all__ = [
    "ACCOUNTS",
    "ACCOUNT_METRICS",
    "CUSTOMERS",
    "PBX_CONNECTIONS",
    "PBX_INSTANCES",
    "USERS",
    "create_body",
    "patch_operations",
]

_PBX_CONNECTION = _RecordCodec(PbxConnection)
_PBX_PROFILE = _RecordCodec(PbxProfile)
_CUSTOMER_METRICS = _RecordCodec(CustomerMetrics, nested={PbxConnection: _PBX_CONNECTION})

ACCOUNTS: Envelopes[Account] = Envelopes(_RecordCodec(Account))
CUSTOMERS: Envelopes[Customer] = Envelopes(_RecordCodec(Customer))
USERS: Envelopes[User] = Envelopes(_RecordCodec(User))
PBX_CONNECTIONS: Envelopes[PbxConnection] = Envelopes(_PBX_CONNECTION)
PBX_INSTANCES: Envelopes[PbxInstance] = Envelopes(_RecordCodec(PbxInstance))
ACCOUNT_METRICS: Envelopes[AccountMetrics] = Envelopes(
    _RecordCodec(
        AccountMetrics, nested={PbxProfile: _PBX_PROFILE, CustomerMetrics: _CUSTOMER_METRICS}
    )
)


def patch_operations(
    cls: type[attrs.AttrsInstance], changes: Mapping[str, object]
) -> list[dict[str, Any]]:
    """The JSON Patch of ``changes`` (snake_case field names of ``cls``) (Rule 1).

    ``{"display_name": "X"}`` -> ``[{"op": "replace", "path": "/displayName", "value": "X"}]``.
    """
    if not isinstance(changes, Mapping):
        raise TypeError("changes must be a mapping of field names to new values")
    if not changes:
        raise ValueError("changes is empty: name at least one field to update")
    keys = json_keys(cls)
    unknown = [name for name in changes if name == "id" or name not in keys]
    if unknown:
        fields = ", ".join(sorted(name for name in keys if name != "id"))
        raise ValueError(
            f"{cls.__name__} has no updatable field {', '.join(map(repr, unknown))}: "
            f"expected some of {fields}"
        )
    return [
        {"op": "replace", "path": f"/{keys[name]}", "value": value}
        for name, value in changes.items()
    ]


def create_body(cls: type[attrs.AttrsInstance], fields: Mapping[str, object]) -> dict[str, Any]:
    """A create request's JSON object from snake_case fields of ``cls`` (Rule 2)."""
    keys = json_keys(cls)
    return {keys[name]: value for name, value in fields.items() if value is not None}
