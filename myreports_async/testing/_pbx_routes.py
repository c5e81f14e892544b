"""The fake's PBX connections of a customer, and the PBX instance lookup.

::

    GET, POST            /api/v1.0/accounts/{a}/customers/{c}/pbxs          P1 P3
    GET, PATCH, DELETE   /api/v1.0/accounts/{a}/customers/{c}/pbxs/{p}      P2 P4 P5
    GET                  /api/v1.0/pbxs?instanceId=                         P6

The shared rules (auth, ids, paging, bodies, charges, answers) are ``_enterprise``'s.
Rules of this room:

1. A create needs a known ``_type`` (``KazooPbxConnectionProfile`` with ``name``,
   ``hostRest``, ``accountId``, ``apiKey``; ``ThreeCxConnectionProfile`` with ``name``
   and ``licenseKey``) and answers every field, ``enabled`` false (documented, P3).
   Connections of other types exist only when a test adds them to the directory.
2. Every view shows every field (the documented list shows four; [inferred]).
3. A PATCH replaces fields the connection has (``id``, ``_type`` and ``tenantId`` are
   not patchable); ``enabled`` also takes the strings ``"true"``/``"false"``, as the
   documented example sends.
4. The instance lookup finds a connection by its instance (a Kazoo ``accountId``, a 3CX
   ``licenseKey``) under any customer: ``{"exists": true, "instanceId", "id",
   "tenantId"}``, else ``{"exists": false, "instanceId"}``, both 200; no ``instanceId``:
   400.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from ._directory import TenantDirectory
from ._enterprise import API, EnterpriseSteps, one, path_id
from ._replies import error_reply
from ._write_bodies import PBX_FIELDS, pbx_fields

__all__ = ["PbxRoutes"]

_READ_ONLY: Final = frozenset({"id", "_type", "tenantId"})


class PbxRoutes:
    """The PBX connections' routes, over the shared ``steps``."""

    def __init__(self, steps: EnterpriseSteps) -> None:
        self._steps = steps

    def route_table(self) -> list[web.RouteDef]:
        """The routes, each named after its :data:`~._faults.RouteName`."""
        pbxs = f"{API}/accounts/{{account_id}}/customers/{{customer_id}}/pbxs"
        pbx = f"{pbxs}/{{pbx_id}}"
        return [
            web.get(pbxs, self.pbxs, name="pbxs", allow_head=False),
            web.post(pbxs, self.create_pbx, name="pbxs"),
            web.get(pbx, self.pbx, name="pbxs:one", allow_head=False),
            web.patch(pbx, self.patch_pbx, name="pbxs:one"),
            web.delete(pbx, self.delete_pbx, name="pbxs:one"),
            web.get(f"{API}/pbxs", self.instance, name="pbx_instances", allow_head=False),
        ]

    async def pbxs(self, request: web.Request) -> web.StreamResponse:
        """P1: a page of a customer's PBX connections."""
        return self._steps.listing(
            request, lambda d: d.pbxs(path_id(request, "customer_id")), with_index=False
        )

    async def pbx(self, request: web.Request) -> web.StreamResponse:
        """P2: one PBX connection."""
        return self._steps.read(request, lambda d: d.pbx(path_id(request, "pbx_id")))

    async def create_pbx(self, request: web.Request) -> web.StreamResponse:
        """P3: create a Kazoo or 3CX connection (rule 1)."""
        return await self._steps.create(request, "create_pbx", pbx_fields, _new_pbx)

    async def patch_pbx(self, request: web.Request) -> web.StreamResponse:
        """P4: replace fields of a PBX connection (rule 3)."""
        found = self._steps.found(request)
        if isinstance(found, web.Response):
            return found
        record = found.pbx(path_id(request, "pbx_id"))
        fields = {k: v for k, v in PBX_FIELDS.items() if k in record and k not in _READ_ONLY}
        return await self._steps.patch(request, "update_pbx", "pbx_id", fields)

    async def delete_pbx(self, request: web.Request) -> web.StreamResponse:
        """P5: delete a PBX connection."""
        return self._steps.delete(request, lambda d: d.delete_pbx(path_id(request, "pbx_id")))

    async def instance(self, request: web.Request) -> web.StreamResponse:
        """P6: whether a PBX instance is connected to a customer anywhere (rule 4)."""
        found = self._steps.found(request)
        if isinstance(found, web.Response):
            return found
        instance = request.query.get("instanceId", "")
        if not instance:
            return error_reply(400, "The instanceId field is required.")
        pbx = found.find_pbx_instance(instance)
        if pbx is None:
            return one({"exists": False, "instanceId": instance})
        return one(
            {"exists": True, "instanceId": instance, "id": pbx["id"], "tenantId": pbx["tenantId"]}
        )


def _new_pbx(
    directory: TenantDirectory, request: web.Request, fields: dict[str, Any]
) -> tuple[str, object]:
    new = directory.add_pbx(path_id(request, "customer_id"), fields)
    return new["id"], new
