"""Seeded Enterprise records: accounts, customers, users and PBX connections of one seed.

Pure functions from ``(seed, number)`` to the camelCase JSON objects the service stores,
with the same splitmix64 hashing as the invoices (``_data``), so a seed gives the same
tenant directory on every run and Python version.

Rules of the generated world:

1. Customer ``n`` is the customer the invoices name with number ``n``: the same
   ``tenantId`` and name (``customerName``), so every invoice joins to a customer of the
   directory. Its ``reference`` is ``ERP-`` and ``n + 1`` in five digits: distinct.
2. Account 0 is the reseller the invoice details name (``ResellerCode``,
   ``ResellerName``); the others are made up.
3. ``dateCreated`` has no zone and three fractional digits, as the service writes it
   (``2019-01-01T09:00:00.000``); metrics write six (as the service's examples do).
4. A customer user has ``customer.user`` and, by its number, some licence roles (so the
   metrics count roles); the first of each customer also administers it. An account user
   has ``account.user``.
5. PBX connections alternate between Kazoo and 3CX by a hash of the customer; their keys
   are made-up hex, never real secrets.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from ._data import InvoiceFactory, _hash, _mix64, _uuid

__all__ = [
    "ACCOUNT_USER_ROLE",
    "CUSTOMER_USER_ROLE",
    "KAZOO",
    "LICENCE_ROLES",
    "THREE_CX",
    "date_created",
    "enterprise_tenant_id",
    "metrics_date",
    "new_id",
    "pbx_instance_id",
    "pbx_type",
    "seeded_account",
    "seeded_customer",
    "seeded_pbx",
    "seeded_user",
]

_TAG_ENTERPRISE = 11
_TAG_ACCOUNT = 12
_TAG_USER = 13
_TAG_PBX = 14
_TAG_NEW = 15
_TAG_SEED = 1  # _data's: account 0 is the reseller the invoice details name (rule 2)

KAZOO: Final = "KazooPbxConnectionProfile"
THREE_CX: Final = "ThreeCxConnectionProfile"
ACCOUNT_USER_ROLE: Final = "account.user"
CUSTOMER_USER_ROLE: Final = "customer.user"
LICENCE_ROLES: Final = frozenset(
    {
        "customer.user.pbx",
        "customer.user.uc.remote",
        "customer.user.pbx.realtime",
        "customer.user.acd",
        "customer.user.supervisorl1",
        "customer.user.supervisorl2",
        "customer.user.supervisorl3",
    }
)
"""Roles that assign a PBX feature licence or a supervisor level: "may incur charges"."""

_EPOCH = datetime(2019, 1, 1, 9, 0, 0)
_ACCOUNT_NAMES = ("Northgate Telecom", "Bluewave Networks", "Vantage Voice", "Citadel Comms")
_ZONES = (
    ("Europe/London", "GB"),
    ("America/New_York", "US"),
    ("Australia/Sydney", "AU"),
    ("Europe/Berlin", "DE"),
)
_FIRST = ("Alex", "Sam", "Jordan", "Robin", "Charlie", "Morgan", "Jamie", "Taylor")
_LAST = ("Smith", "Jones", "Patel", "Garcia", "Nguyen", "Müller", "Okafor", "Brown")
_ROLE_SETS = (
    ("customer.user.pbx",),
    ("customer.user.pbx", "customer.user.acd"),
    ("customer.user.uc", "customer.user.uc.remote"),
    ("customer.user.pbx", "customer.user.pbx.realtime", "customer.user.supervisorl1"),
    (),
)


def date_created(moment: datetime) -> str:
    """``dateCreated`` as the service writes it (rule 3)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def metrics_date(created: str) -> str:
    """A stored ``dateCreated`` with the six fractional digits of the metrics (rule 3)."""
    head, _, fraction = created.partition(".")
    return f"{head}.{(fraction + '000000')[:6]}"


def enterprise_tenant_id(seed: int) -> str:
    """The enterprise (service provider) tenant: every account's ``parentTenantId``."""
    return _uuid(_hash(_TAG_ENTERPRISE, seed))


def new_id(seed: int, counter: int) -> str:
    """The id of the ``counter``-th record created through the API: seeded, never reused."""
    return _uuid(_hash(_TAG_NEW, seed, counter))


def seeded_account(seed: int, number: int) -> dict[str, Any]:
    """Account ``number`` (rule 2), every schema field."""
    if number == 0:
        account_id, name = _uuid(_hash(_TAG_SEED, seed, 1)), "ABC Reseller"
    else:
        h = _hash(_TAG_ACCOUNT, seed, number)
        account_id = _uuid(_mix64(h))
        name = f"{_ACCOUNT_NAMES[h % len(_ACCOUNT_NAMES)]} {number}"
    zone, country = _ZONES[number % len(_ZONES)]
    return {
        "id": account_id,
        "name": name,
        "description": f"Reseller account {name}",
        "enabled": True,
        "parentTenantId": enterprise_tenant_id(seed),
        "reference": f"ACC-{number + 1:05d}",
        "dateCreated": date_created(_EPOCH + timedelta(days=number)),
        "timezone": zone,
        "countryCode": country,
    }


def seeded_customer(factory: InvoiceFactory, number: int, account_id: str) -> dict[str, Any]:
    """Customer ``number`` of the invoices (rule 1), every schema field."""
    customer = factory.customer(number)
    h = _hash(_TAG_ACCOUNT, factory.seed, number, 1)
    zone, country = _ZONES[h % len(_ZONES)]
    return {
        "id": customer.tenant_id,
        "name": customer.name,
        "description": f"{customer.name}, {customer.licences} licences",
        "enabled": h % 10 != 0,
        "parentTenantId": account_id,
        "reference": f"ERP-{number + 1:05d}",
        "dateCreated": date_created(_EPOCH + timedelta(days=30 + number, hours=h % 9)),
        "timezone": zone,
        "countryCode": country,
        "features": {"agent": (h >> 8) % 2, "device": (h >> 9) % 3},
        "syncAcdAgentWithPbx": False,
        "sendNewUserEmail": True,
        "sendConnectWelcomeEmail": True,
        "tenantProfileType": "TenantProfileType_analytics",
        "trialDuration": 0,
    }


def seeded_user(
    seed: int, tenant_id: str, number: int, *, domain: str, customer: bool
) -> dict[str, Any]:
    """User ``number`` whose primary tenant is ``tenant_id`` (rule 4), with its roles."""
    h = _hash(_TAG_USER, seed, int(tenant_id.replace("-", ""), 16), number)
    first, last = _FIRST[h % len(_FIRST)], _LAST[(h >> 8) % len(_LAST)]
    if customer:
        roles = [CUSTOMER_USER_ROLE, *_ROLE_SETS[(h >> 16) % len(_ROLE_SETS)]]
        if number == 0:
            roles += ["admin.user", "customer.settings"]
    else:
        roles = [ACCOUNT_USER_ROLE]
    return {
        "id": _uuid(h),
        "displayName": f"{first} {last}",
        "email": f"{first.lower()}.{number + 1}@{domain}",
        "primaryTenant": tenant_id,
        "roles": roles,
    }


def seeded_pbx(seed: int, customer: dict[str, Any], number: int) -> dict[str, Any]:
    """PBX connection ``number`` of ``customer`` (rule 5), as the service stores it."""
    h = _hash(_TAG_PBX, seed, int(customer["id"].replace("-", ""), 16), number)
    common = {"id": _uuid(h), "tenantId": customer["id"], "countryCode": customer["countryCode"]}
    if (h >> 4) % 2 == 0:
        return {
            "_type": KAZOO,
            **common,
            "name": f"{customer['name']} Kazoo",
            "enabled": True,
            "hostRest": f"https://kazoo-{h % 97}.example:8443/v2",
            "hostWebsocket": f"wss://kazoo-{h % 97}.example:5555",
            "accountId": f"{_mix64(h):016x}{_mix64(h + 1):016x}",
            "apiKey": f"{_mix64(h + 2):016x}{_mix64(h + 3):016x}",
            "monitorSubAccounts": False,
        }
    key = f"{_mix64(h + 4):016X}"
    return {
        "_type": THREE_CX,
        **common,
        "name": f"{customer['name']} 3CX",
        "enabled": True,
        "licenseKey": "-".join(key[i : i + 4] for i in range(0, 16, 4)),
    }


def pbx_type(profile_type: object) -> str:
    """The metrics' ``pbxType`` of a ``_type`` ("Kazoo", "ThreeCx"; inferred for others)."""
    text = str(profile_type)
    for suffix in ("PbxConnectionProfile", "ConnectionProfile"):
        if text.endswith(suffix) and text != suffix:
            return text[: -len(suffix)]
    return text


def pbx_instance_id(profile: dict[str, Any]) -> str | None:
    """What ``GET /pbxs?instanceId=`` looks for: a Kazoo account id, a 3CX licence key."""
    for key in ("accountId", "licenseKey", "instanceId"):
        value = profile.get(key)
        if isinstance(value, str) and value:
            return value
    return None
