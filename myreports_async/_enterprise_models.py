"""Records of the Enterprise API: accounts, customers, users, PBX connections, metrics.

Like ``_models``, they know nothing about the wire format: ``_enterprise_codec`` reads
them from the service's JSON, where each key is the attribute's name in camelCase (a
different key is one line of ``_codec._RENAMES``: ``_type``, ``trialduration``...).

Every field but ``id`` is optional and ``None`` when the service leaves it out: the
service documents that "some fields may not always be returned", and list items carry
fewer fields than single records (a user listed has no ``roles``: ``None``, not ``()``).
Datetimes are timezone-aware (naive service values are UTC).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

import attrs

__all__ = [
    "Account",
    "AccountMetrics",
    "Customer",
    "CustomerMetrics",
    "PbxConnection",
    "PbxInstance",
    "PbxProfile",
    "User",
]

_NO_COUNTS: Mapping[str, int] = MappingProxyType({})


@attrs.frozen
class _Tenant:
    """The fields an account and a customer tenant share."""

    id: str
    name: str | None = None
    description: str | None = None
    reference: str | None = None
    enabled: bool | None = None
    parent_tenant_id: str | None = None
    date_created: datetime | None = None
    timezone: str | None = None
    country_code: str | None = None


@attrs.frozen
class Account(_Tenant):
    """A reseller account (tenant) of the enterprise: ``id``, ``name``, ``description``,
    ``reference`` (the service provider's own), ``enabled``, ``parent_tenant_id`` (the
    enterprise), ``date_created``, ``timezone`` (IANA) and ``country_code`` (ISO 3166).

    Example::

        async for account in client.accounts.iter():
            print(account.id, account.name, account.reference)
    """


@attrs.frozen
class Customer(_Tenant):
    """A customer tenant of a reseller account: an account's fields, and its own.

    ``reference`` is the service provider's own reference (what an ERP knows the
    customer by). ``trial_duration`` is the number of trial days (0: not on trial);
    ``features`` maps a licensed feature (``agent``, ``device``) to its count (0 is
    disabled).

    Example::

        async for customer in client.customers(account_id).iter(filter="ACME"):
            print(customer.id, customer.reference)
    """

    tenant_profile_type: str | None = None
    trial_duration: int | None = None
    features: Mapping[str, int] | None = None
    sync_acd_agent_with_pbx: bool | None = None
    send_new_user_email: bool | None = None
    send_connect_welcome_email: bool | None = None


@attrs.frozen
class User:
    """A user of an account or of a customer tenant.

    ``roles`` is ``None`` when the service did not send them (its listings leave them
    out; :meth:`get` returns them). ``is_parent`` says whether the user is configured at
    a higher level (the reseller's) than the customer it is listed under.

    Example::

        user = await client.account_users(account_id).get(user_id)
        print(user.email, user.roles)
    """

    id: str
    display_name: str | None = None
    email: str | None = None
    roles: tuple[str, ...] | None = None
    primary_tenant: str | None = None
    is_parent: bool | None = None


@attrs.frozen
class PbxConnection:
    """A PBX connection profile of a customer (Kazoo, 3CX, Teams...).

    ``type`` is the service's ``_type`` (``"KazooPbxConnectionProfile"``,
    ``"ThreeCxConnectionProfile"``); a type this client does not know is kept as the
    service wrote it. ``pbx_type`` and ``instance_id`` come with the metrics' view of a
    connection (``"Kazoo"``, ``"Teams"``).

    ``api_key`` and ``license_key`` are secrets: they are left out of ``repr()`` (and so
    of logs and error messages), though readable as attributes.
    """

    id: str
    type: str | None = None
    name: str | None = None
    tenant_id: str | None = None
    country_code: str | None = None
    enabled: bool | None = None
    host_rest: str | None = None
    host_websocket: str | None = None
    account_id: str | None = None
    monitor_sub_accounts: bool | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    license_key: str | None = attrs.field(default=None, repr=False)
    pbx_type: str | None = None
    instance_id: str | None = None


@attrs.frozen
class PbxInstance:
    """Whether a PBX instance is already connected to a customer tenant, anywhere.

    ``instance_id`` is the Kazoo account id, the Microsoft tenant id (Teams) or the 3CX
    licence key. When ``exists`` is true, ``id`` is the PBX connection and ``tenant_id``
    the customer it belongs to; otherwise both are ``None``.
    """

    exists: bool | None = None
    instance_id: str | None = None
    id: str | None = None
    tenant_id: str | None = None


@attrs.frozen
class PbxProfile:
    """A PBX provisioning profile of an account (its metrics' ``pbxProfiles``)."""

    id: str
    pbx_type: str | None = None
    instance_id: str | None = None


@attrs.frozen
class CustomerMetrics:
    """Licence usage of one customer: its PBX connections and a count per role."""

    tenant_id: str | None = None
    tenant_name: str | None = None
    enabled: bool | None = None
    date_created: datetime | None = None
    tenant_profile_type: str | None = None
    pbxs: tuple[PbxConnection, ...] = ()
    roles: Mapping[str, int] = _NO_COUNTS


@attrs.frozen
class AccountMetrics:
    """Licence usage of a reseller account, customer by customer.

    Example::

        metrics = await client.accounts.metrics(account_id)
        for customer in metrics.customers:
            print(customer.tenant_name, customer.roles.get("customer.user.pbx", 0))
    """

    account_tenant_id: str | None = None
    account_name: str | None = None
    enabled: bool | None = None
    date_created: datetime | None = None
    pbx_profiles: tuple[PbxProfile, ...] = ()
    customers: tuple[CustomerMetrics, ...] = ()
