"""An account's metrics (the service's Reseller Metrics page), computed from the tenant directory.

Rules:

1. Computed when asked, from the directory's own reads, so they always agree with the
   state: a customer created a moment ago is counted, a deleted one is gone.
2. ``roles`` counts, per role, the users listed in the customer that hold it (sorted by
   role name); ``pbxs`` lists the customer's PBX connections with their ``pbxType``
   (``Kazoo``, ``ThreeCx``...) and ``instanceId``.
3. ``pbxProfiles`` holds one provisioning profile per PBX type the account's customers
   use, ``"<type>PbxProvisionerProfile_<account id>"`` ([inferred]: the documentation
   shows such entries, not where they come from).
4. ``dateCreated`` has six fractional digits here, as the documented example writes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._tenants import metrics_date, pbx_instance_id, pbx_type

if TYPE_CHECKING:
    from ._directory import TenantDirectory

__all__ = ["account_metrics"]


def account_metrics(directory: TenantDirectory, account_id: str) -> dict[str, Any]:
    """The ``data`` of ``GET /accounts/{account_id}/metrics``."""
    account = directory.account(account_id)
    kinds: dict[str, None] = {}  # insertion-ordered set
    customers = []
    for listed in directory.customers(account_id):
        customer = directory.customer(listed["id"])
        pbxs = [_pbx(pbx) for pbx in directory.pbxs(customer["id"])]
        kinds.update(dict.fromkeys(pbx["pbxType"] for pbx in pbxs))
        customers.append(
            {
                "tenantId": customer["id"],
                "tenantName": customer["name"],
                "enabled": customer["enabled"],
                "dateCreated": metrics_date(customer["dateCreated"]),
                "tenantProfileType": customer.get("tenantProfileType"),
                "pbxs": pbxs,
                "roles": _role_counts(directory, customer["id"]),
            }
        )
    return {
        "accountTenantId": account_id,
        "accountName": account["name"],
        "enabled": account["enabled"],
        "dateCreated": metrics_date(account["dateCreated"]),
        "pbxProfiles": [
            {"id": f"{kind}PbxProvisionerProfile_{account_id}", "pbxType": kind} for kind in kinds
        ],
        "customers": customers,
    }


def _role_counts(directory: TenantDirectory, tenant_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for listed in directory.users(tenant_id):
        for role in directory.user(listed["id"], tenant_id)["roles"]:
            counts[role] = counts.get(role, 0) + 1
    return dict(sorted(counts.items()))


def _pbx(pbx: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": pbx["id"],
        "pbxType": pbx_type(pbx.get("_type")),
        "instanceId": pbx_instance_id(pbx),
        "name": pbx.get("name"),
        "enabled": pbx.get("enabled"),
        "monitorSubAccounts": bool(pbx.get("monitorSubAccounts", False)),
    }
