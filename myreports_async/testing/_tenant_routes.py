"""The fake's accounts and customers: listings, one, create, patch, delete, metrics.

::

    GET, POST            /api/v1.0/accounts                        A1 A3
    GET, PATCH, DELETE   /api/v1.0/accounts/{a}                    A2 A4 A5
    GET                  /api/v1.0/accounts/{a}/metrics            A6
    GET, POST            /api/v1.0/accounts/{a}/customers          C1 C3
    GET, PATCH, DELETE   /api/v1.0/accounts/{a}/customers/{c}      C2 C4, PATCH [inferred]

The shared rules (auth, ids, paging, bodies, charges, answers) are ``_enterprise``'s.
Rules of this room:

1. The customers' listing takes ``filter``: a case-insensitive "contains" on ``name``
   and ``reference`` (aiohttp has percent-decoded it already).
2. A create echoes five fields (``id``, ``name``, ``description``, ``enabled``,
   ``parentTenantId``), as documented for both; GET of one shows every stored field.
3. A create-customer body may carry its PBX connection (``pbxConnectionProfile``, as in
   the documented example, or the schema's ``pbxConnectionProfiles`` array): it is
   checked like a PBX create and added with the customer [inferred].
4. Deleting an account or a customer deletes what hangs under it (``_directory``, rule 4).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._directory import TenantDirectory
from ._enterprise import API, EnterpriseSteps, path_id
from ._write_bodies import ACCOUNT_FIELDS, CUSTOMER_FIELDS, created_fields, pbx_fields

__all__ = ["TenantRoutes"]


class TenantRoutes:
    """The accounts' and customers' routes, over the shared ``steps``."""

    def __init__(self, steps: EnterpriseSteps) -> None:
        self._steps = steps

    def route_table(self) -> list[web.RouteDef]:
        """The routes, each named after its :data:`~._faults.RouteName`."""
        accounts, account = f"{API}/accounts", f"{API}/accounts/{{account_id}}"
        customers, customer = f"{account}/customers", f"{account}/customers/{{customer_id}}"
        return [
            web.get(accounts, self.accounts, name="accounts", allow_head=False),
            web.post(accounts, self.create_account, name="accounts"),
            web.get(account, self.account, name="accounts:one", allow_head=False),
            web.patch(account, self.patch_account, name="accounts:one"),
            web.delete(account, self.delete_account, name="accounts:one"),
            web.get(f"{account}/metrics", self.metrics, name="accounts:metrics", allow_head=False),
            web.get(customers, self.customers, name="customers", allow_head=False),
            web.post(customers, self.create_customer, name="customers"),
            web.get(customer, self.customer, name="customers:one", allow_head=False),
            web.patch(customer, self.patch_customer, name="customers:one"),
            web.delete(customer, self.delete_customer, name="customers:one"),
        ]

    # -- accounts --------------------------------------------------------------------------

    async def accounts(self, request: web.Request) -> web.StreamResponse:
        """A1: a page of accounts."""
        return self._steps.listing(request, TenantDirectory.accounts, with_index=True)

    async def account(self, request: web.Request) -> web.StreamResponse:
        """A2: one account."""
        return self._steps.read(request, lambda d: d.account(path_id(request, "account_id")))

    async def create_account(self, request: web.Request) -> web.StreamResponse:
        """A3: create an account (rule 2)."""
        return await self._steps.create(
            request,
            "create_account",
            lambda body: created_fields(body, ACCOUNT_FIELDS, ("name",)),
            _new_account,
        )

    async def patch_account(self, request: web.Request) -> web.StreamResponse:
        """A4: replace fields of an account."""
        return await self._steps.patch(request, "update_account", "account_id", ACCOUNT_FIELDS)

    async def delete_account(self, request: web.Request) -> web.StreamResponse:
        """A5: delete an account and everything under it (rule 4)."""
        return self._steps.delete(
            request, lambda d: d.delete_account(path_id(request, "account_id"))
        )

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        """A6: the account's metrics, computed from the state."""
        return self._steps.read(request, lambda d: d.metrics(path_id(request, "account_id")))

    # -- customers -------------------------------------------------------------------------

    async def customers(self, request: web.Request) -> web.StreamResponse:
        """C1: a page of an account's customers, ``filter`` applied (rule 1)."""
        wanted = request.query.get("filter", "").casefold()

        def matching(directory: TenantDirectory) -> list[dict[str, Any]]:
            return [
                customer
                for customer in directory.customers(path_id(request, "account_id"))
                if any(
                    wanted in str(customer.get(key) or "").casefold()
                    for key in ("name", "reference")
                )
            ]

        return self._steps.listing(request, matching, with_index=True)

    async def customer(self, request: web.Request) -> web.StreamResponse:
        """C2 [inferred]: one customer, every field."""
        return self._steps.read(request, lambda d: d.customer(path_id(request, "customer_id")))

    async def create_customer(self, request: web.Request) -> web.StreamResponse:
        """C3: create a customer, and its PBX connection when the body has one (rule 3)."""
        return await self._steps.create(request, "create_customer", _customer_fields, _new_customer)

    async def patch_customer(self, request: web.Request) -> web.StreamResponse:
        """Replace fields of a customer [inferred]."""
        return await self._steps.patch(request, "update_customer", "customer_id", CUSTOMER_FIELDS)

    async def delete_customer(self, request: web.Request) -> web.StreamResponse:
        """C4: delete a customer, its PBX connections and its own users (rule 4)."""
        return self._steps.delete(
            request, lambda d: d.delete_customer(path_id(request, "customer_id"))
        )


def _new_account(
    directory: TenantDirectory, request: web.Request, fields: dict[str, Any]
) -> tuple[str, object]:
    new = directory.add_account(**fields)
    return new["id"], directory.account(new["id"], "created")


def _customer_fields(body: object) -> dict[str, Any] | str:
    """The checked fields of a create-customer body, its PBX connections under
    ``pbxConnectionProfile`` (rule 3), or the 400 message."""
    fields = created_fields(body, CUSTOMER_FIELDS, ("name",))
    if isinstance(fields, str) or not isinstance(body, dict):
        return fields
    profiles: list[object] = []
    for key, value in body.items():
        if str(key).lower() == "pbxconnectionprofile" and value is not None:
            profiles.append(value)
        elif str(key).lower() == "pbxconnectionprofiles" and isinstance(value, list):
            profiles.extend(value)
    checked = [pbx_fields(profile) for profile in profiles]
    for profile in checked:
        if isinstance(profile, str):
            return profile
    fields["pbxConnectionProfile"] = checked
    return fields


def _new_customer(
    directory: TenantDirectory, request: web.Request, fields: dict[str, Any]
) -> tuple[str, object]:
    profiles = fields.pop("pbxConnectionProfile")
    new = directory.add_customer(path_id(request, "account_id"), **fields)
    for profile in profiles:
        directory.add_pbx(new["id"], profile)
    return new["id"], directory.customer(new["id"], "created")
