"""The steps every Enterprise route shares: guard, page, create, patch, charge, delete.

The Enterprise resources are three rooms over one :class:`~._directory.TenantDirectory`,
each with its ``route_table()``: ``_tenant_routes`` (accounts, customers, metrics),
``_user_routes`` (the users of an account or of a customer) and ``_pbx_routes`` (PBX
connections and the instance lookup). They share one :class:`EnterpriseSteps`, which
holds the service-wide knobs (``charges``, ``page_size_as_string``) and applies the
rules below, so each rule is written once.

::

    /api/v1.0/accounts                                    GET (paged), POST          A1 A3
    /api/v1.0/accounts/{a}                                GET, PATCH, DELETE         A2 A4 A5
    /api/v1.0/accounts/{a}/metrics                        GET                        A6
    /api/v1.0/accounts/{a}/users                          GET, POST                  U1 U3
    /api/v1.0/accounts/{a}/users/{u}                      GET, PATCH, DELETE         U2 U4 U5
    /api/v1.0/accounts/{a}/users/{u}/sendActivationEmail  POST                       U6
    /api/v1.0/accounts/{a}/customers                      GET (paged, filter), POST  C1 C3
    /api/v1.0/accounts/{a}/customers/{c}                  GET, PATCH, DELETE         C2 C4 (*)
    /api/v1.0/accounts/{a}/customers/{c}/users...         as an account's users      CU1-3 (*)
    /api/v1.0/accounts/{a}/customers/{c}/pbxs             GET, POST                  P1 P3
    /api/v1.0/accounts/{a}/customers/{c}/pbxs/{p}         GET, PATCH, DELETE         P2 P4 P5
    /api/v1.0/pbxs?instanceId=                            GET                        P6

(*) [inferred]: Get Customer's page, Patch Customer and the customer users' PATCH, DELETE
and sendActivationEmail were not found; they follow their documented siblings.

Rules, in the order a request meets them:

1. Without an accepted bearer token: 401, as on the billing routes.
2. Every id in the path must be GUID-shaped, else 400 "The value '<id>' is not valid.";
   then each must exist under its parent (a customer under its account, a user listed in
   its tenant), else 404 with the service's error body.
3. Listings take ``pageIndex`` (default 0) and ``pageSize`` (default and maximum
   :data:`ENTERPRISE_MAX_PAGE_SIZE`; a larger one is cut [inferred]); a page past the
   end is empty. ``page_size`` counts the items of this page; only the accounts' and
   customers' listings carry ``page_index`` (as documented).
4. A write's body must be JSON and valid for its resource (``_write_bodies``), else 400.
5. Charges (the service's Charges page): an operation named in ``charges`` is answered 402
   without ``accept-charges: true``, and not carried out; the 402's body is the request's
   body as sent, not enveloped. The customer users' create and update are charged only
   when they assign a licence role (:data:`~._tenants.LICENCE_ROLES`): the role tables
   say those "may incur charges". A body that fails rule 4 gets its 400 first: it could
   not incur anything [inferred].
6. A create answers 201 with ``Location`` (the new resource's URL) and the documented
   echo; a PATCH or DELETE answers 200 with ``{status, timestamp}`` and no ``data``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Final

import msgspec
from aiohttp import web

from ._credentials import Credentials
from ._data import utc_timestamp
from ._directory import TenantDirectory
from ._replies import (
    charges_accepted,
    error_reply,
    json_reply,
    page_request,
    reply,
    shown,
    unauthorized,
)
from ._tenants import LICENCE_ROLES
from ._write_bodies import Fields, patched_fields

__all__ = [
    "API",
    "CHARGEABLE_OPERATIONS",
    "DEFAULT_CHARGES",
    "ENTERPRISE_MAX_PAGE_SIZE",
    "EnterpriseSteps",
    "Make",
    "one",
    "path_id",
    "tenant_of",
]

API: Final = "/api/v1.0"
ENTERPRISE_MAX_PAGE_SIZE: Final = 1000
"""The default and the largest ``pageSize`` of an Enterprise listing."""
CHARGEABLE_OPERATIONS: Final = frozenset(
    f"{verb}_{kind}"
    for verb in ("create", "update")
    for kind in ("account", "account_user", "customer", "customer_user", "pbx")
)
"""The operation names :attr:`FakeService.charges` may hold: ``create_account``,
``update_account``, ``create_account_user``, ``update_account_user``, ``create_customer``,
``update_customer``, ``create_customer_user``, ``update_customer_user``, ``create_pbx``,
``update_pbx``."""
DEFAULT_CHARGES: Final = frozenset(
    {
        "create_account",
        "create_customer",
        "create_pbx",
        "create_customer_user",
        "update_customer_user",
    }
)
"""The operations charged by default: a new account, customer or PBX connection, and a
customer user's licence roles (given on create or by a patch; see
:data:`CHARGEABLE_OPERATIONS`)."""
_LICENCE_OPERATIONS: Final = frozenset({"create_customer_user", "update_customer_user"})
_GUID: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_ID_KEYS: Final = ("account_id", "customer_id", "user_id", "pbx_id")

Make = Callable[[TenantDirectory, web.Request, dict[str, Any]], tuple[str, object]]
"""Adds a checked create body to the directory; returns the new id and the echo."""


def path_id(request: web.Request, key: str) -> str:
    """An id of the request's path (``"account_id"``, ``"customer_id"``...)."""
    return request.match_info[key]


def tenant_of(request: web.Request) -> str:
    """The tenant of a users route: the customer's, else the account's."""
    return request.match_info.get("customer_id") or request.match_info["account_id"]


def one(data: object) -> web.Response:
    """One item in the single-item envelope."""
    return json_reply(200, {"data": data, "status": "success", "timestamp": utc_timestamp()})


def check_charges(charges: Collection[str]) -> frozenset[str]:
    """``charges`` as a frozenset of known operation names; ``ValueError`` otherwise."""
    if isinstance(charges, str):
        raise ValueError(f"charges must be a set of operation names, got {charges!r}")
    unknown = set(charges) - CHARGEABLE_OPERATIONS
    if unknown:
        raise ValueError(
            f"unknown charged operations {sorted(unknown)}; known: {sorted(CHARGEABLE_OPERATIONS)}"
        )
    return frozenset(charges)


class EnterpriseSteps:
    """The shared steps of the Enterprise rooms over the directory ``directory()`` returns.

    The directory is asked for on each request, so the service builds it only when first
    needed. ``charges`` and ``page_size_as_string`` are plain attributes that tests change
    between requests.
    """

    def __init__(
        self,
        directory: Callable[[], TenantDirectory],
        credentials: Credentials,
        *,
        charges: Collection[str],
        page_size_as_string: bool,
    ) -> None:
        self._directory = directory
        self._credentials = credentials
        self.charges: AbstractSet[str] = check_charges(charges)
        self.page_size_as_string = page_size_as_string

    def found(self, request: web.Request) -> TenantDirectory | web.Response:
        """The directory once the token and the path's ids pass, or the error (rules 1, 2)."""
        if not self._credentials.bearer_accepted(request):
            return unauthorized()
        ids = {key: request.match_info[key] for key in _ID_KEYS if key in request.match_info}
        for raw in ids.values():
            if not _GUID.fullmatch(raw):
                return error_reply(400, f"The value '{shown(raw)}' is not valid.")
        directory = self._directory()
        account, customer = ids.get("account_id", ""), ids.get("customer_id")
        checks = (
            "account_id" not in ids or directory.has_account(account),
            customer is None or directory.has_customer(account, customer),
            "user_id" not in ids or directory.lists_user(customer or account, ids["user_id"]),
            "pbx_id" not in ids or directory.has_pbx(customer or "", ids["pbx_id"]),
        )
        return directory if all(checks) else error_reply(404)

    def read(self, request: web.Request, view: Callable[[TenantDirectory], object]) -> web.Response:
        """GET of one item: ``view`` of the directory, enveloped."""
        found = self.found(request)
        return found if isinstance(found, web.Response) else one(view(found))

    def listing(
        self,
        request: web.Request,
        items: Callable[[TenantDirectory], list[dict[str, Any]]],
        *,
        with_index: bool,
    ) -> web.Response:
        """GET of a listing: one page of ``items`` in the listing envelope (rule 3)."""
        found = self.found(request)
        if isinstance(found, web.Response):
            return found
        asked = page_request(request.query, ENTERPRISE_MAX_PAGE_SIZE, ENTERPRISE_MAX_PAGE_SIZE)
        if isinstance(asked, web.Response):
            return asked
        page_index, page_size = asked
        data = items(found)[page_index * page_size : (page_index + 1) * page_size]
        payload: dict[str, Any] = {
            "page_size": str(len(data)) if self.page_size_as_string else len(data)
        }
        if with_index:
            payload["page_index"] = page_index
        payload.update(data=data, status="success", timestamp=utc_timestamp())
        return json_reply(200, payload)

    async def create(
        self,
        request: web.Request,
        operation: str,
        check: Callable[[object], dict[str, Any] | str],
        make: Make,
    ) -> web.Response:
        """A POST that creates (rules 2, 4, 5, 6): ``check`` the body, then ``make`` it."""
        accepted = await self._write(request, operation, check)
        if isinstance(accepted, web.Response):
            return accepted
        directory, fields = accepted
        new_id, echo = make(directory, request, fields)
        location = f"{request.url.origin()}{request.path.rstrip('/')}/{new_id}"
        payload = {"data": echo, "status": "success", "timestamp": utc_timestamp()}
        return json_reply(201, payload, Location=location)

    async def patch(
        self, request: web.Request, operation: str, id_key: str, fields: Fields
    ) -> web.Response:
        """A PATCH of the record the path's ``id_key`` names (rules 2, 4, 5, 6)."""
        accepted = await self._write(request, operation, lambda body: patched_fields(body, fields))
        if isinstance(accepted, web.Response):
            return accepted
        directory, changes = accepted
        directory.update(path_id(request, id_key), changes)
        return _done()

    async def _write(
        self,
        request: web.Request,
        operation: str,
        check: Callable[[object], dict[str, Any] | str],
    ) -> tuple[TenantDirectory, dict[str, Any]] | web.Response:
        """The directory and the checked body of a write that may go ahead (rules 1-5)."""
        found = self.found(request)
        if isinstance(found, web.Response):
            return found
        try:
            body = msgspec.json.decode(await request.read())
        except msgspec.DecodeError:
            return error_reply(400, "The request body is not valid JSON.")
        checked = check(body)
        if isinstance(checked, str):
            return error_reply(400, checked)
        refused = await self._payment_required(request, operation, checked)
        return (found, checked) if refused is None else refused

    def delete(
        self, request: web.Request, remove: Callable[[TenantDirectory], None]
    ) -> web.Response:
        """A DELETE (rules 2, 6): ``remove`` takes the record out of the directory."""
        found = self.found(request)
        if isinstance(found, web.Response):
            return found
        remove(found)
        return _done()

    async def _payment_required(
        self, request: web.Request, operation: str, fields: Mapping[str, Any]
    ) -> web.Response | None:
        """The 402 of rule 5, or ``None`` when the request may be carried out."""
        if operation not in self.charges or charges_accepted(request.headers):
            return None
        roles = fields.get("roles") or ()
        if operation in _LICENCE_OPERATIONS and not LICENCE_ROLES.intersection(roles):
            return None
        return reply(402, await request.read())


def _done() -> web.Response:
    return json_reply(200, {"status": "success", "timestamp": utc_timestamp()})
