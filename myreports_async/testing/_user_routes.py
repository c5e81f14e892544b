"""The fake's users of an account or of a customer tenant.

::

    GET, POST            /api/v1.0/accounts/{a}/users                           U1 U3
    GET, PATCH, DELETE   /api/v1.0/accounts/{a}/users/{u}                       U2 U4 U5
    POST                 /api/v1.0/accounts/{a}/users/{u}/sendActivationEmail   U6
    the same under       /api/v1.0/accounts/{a}/customers/{c}/users             CU1-CU3,
                                                                                the rest [inferred]

The shared rules (auth, ids, paging, bodies, charges, answers) are ``_enterprise``'s.
Rules of this room:

1. The tenant is the customer when the path names one, else the account; a user must be
   listed in it (else 404). Listed users have no ``roles``; GET of one and the create's
   echo have them; in a customer's list ``isParent`` tells a user whose primary tenant
   is elsewhere (``_directory``, rule 1).
2. A create needs ``email`` and ``displayName``; the tenant's base role
   (``account.user``, ``customer.user``) is given whatever ``roles`` says, and an
   activation email goes out (recorded in ``TenantDirectory.activation_emails``).
3. A PATCH of ``/roles`` replaces every role, as the documentation warns.
4. sendActivationEmail answers 204, or 400 with ``errorCode: "TenantNotPrimary"`` when
   the tenant is not the user's primary one (documented, U6).
5. DELETE from the user's primary tenant deletes the user everywhere; from another
   tenant it only unlists the user there (documented, U5).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._data import utc_timestamp
from ._directory import TenantDirectory
from ._enterprise import API, EnterpriseSteps, path_id, tenant_of
from ._replies import json_reply
from ._write_bodies import USER_FIELDS, created_fields

__all__ = ["UserRoutes"]


def _kind(request: web.Request) -> str:
    return "customer_user" if "customer_id" in request.match_info else "account_user"


class UserRoutes:
    """The routes of account users and of customer users, over the shared ``steps``."""

    def __init__(self, steps: EnterpriseSteps) -> None:
        self._steps = steps

    def route_table(self) -> list[web.RouteDef]:
        """The routes, each named after its :data:`~._faults.RouteName`."""
        account = f"{API}/accounts/{{account_id}}"
        routes: list[web.RouteDef] = []
        for tenant, group in (
            (account, "account_users"),
            (f"{account}/customers/{{customer_id}}", "customer_users"),
        ):
            users, user = f"{tenant}/users", f"{tenant}/users/{{user_id}}"
            routes += [
                web.get(users, self.users, name=group, allow_head=False),
                web.post(users, self.create_user, name=group),
                web.get(user, self.user, name=f"{group}:one", allow_head=False),
                web.patch(user, self.patch_user, name=f"{group}:one"),
                web.delete(user, self.delete_user, name=f"{group}:one"),
                web.post(
                    f"{user}/sendActivationEmail", self.send_activation, name=f"{group}:activation"
                ),
            ]
        return routes

    async def users(self, request: web.Request) -> web.StreamResponse:
        """U1, CU1: a page of the tenant's users (no ``page_index``, as documented)."""
        return self._steps.listing(request, lambda d: d.users(tenant_of(request)), with_index=False)

    async def user(self, request: web.Request) -> web.StreamResponse:
        """U2, CU2: one user, with roles."""
        return self._steps.read(
            request, lambda d: d.user(path_id(request, "user_id"), tenant_of(request))
        )

    async def create_user(self, request: web.Request) -> web.StreamResponse:
        """U3, CU3: create a user of the tenant (rule 2)."""
        return await self._steps.create(
            request,
            f"create_{_kind(request)}",
            lambda body: created_fields(body, USER_FIELDS, ("email", "displayName")),
            _new_user,
        )

    async def patch_user(self, request: web.Request) -> web.StreamResponse:
        """U4: replace fields of a user (rule 3)."""
        return await self._steps.patch(request, f"update_{_kind(request)}", "user_id", USER_FIELDS)

    async def delete_user(self, request: web.Request) -> web.StreamResponse:
        """U5: unlist or delete the user (rule 5)."""
        return self._steps.delete(
            request, lambda d: d.delete_user(tenant_of(request), path_id(request, "user_id"))
        )

    async def send_activation(self, request: web.Request) -> web.StreamResponse:
        """U6: 204, or 400 ``TenantNotPrimary`` (rule 4)."""
        found = self._steps.found(request)
        if isinstance(found, web.Response):
            return found
        user_id = path_id(request, "user_id")
        if found.user(user_id)["primaryTenant"] != tenant_of(request):
            payload = {
                "error": 400,
                "errorCode": "TenantNotPrimary",
                "message": "This is not the primary tenant for this User.",
                "status": "error",
                "timestamp": utc_timestamp(),
            }
            return json_reply(400, payload)
        found.send_activation_email(user_id)
        return web.Response(status=204)


def _new_user(
    directory: TenantDirectory, request: web.Request, fields: dict[str, Any]
) -> tuple[str, object]:
    tenant = tenant_of(request)
    new = directory.add_user(
        tenant,
        email=fields["email"],
        display_name=fields["displayName"],
        roles=fields.get("roles", ()),
    )
    directory.send_activation_email(new["id"])
    return new["id"], directory.user(new["id"], tenant, "created")
