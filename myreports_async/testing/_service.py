"""The fake MyReports service: :class:`FakeService`, the rooms it is built from.

The service is an :class:`aiohttp.web.Application` assembled from small rooms, each with
its own module::

    state      _collection.InvoiceCollection   the invoices, insertions, file sizes
               _directory.TenantDirectory      accounts, customers, users, PBX connections
               _credentials.Credentials        tokens, OAuth clients, refresh tokens, codes
               _request_log.RequestLog         every request, in arrival order
    gateway    _gateway                        the middleware chain, in front of the routes:
               _rate_limit.TokenBucket           record -> rate limit -> faults
               _fault_injection.FaultPlan
    routes     _billing_routes.BillingRoutes   GET /api/v1.0/billingdata...
               _tenant_routes.TenantRoutes     /api/v1.0/accounts..., .../customers...
               _user_routes.UserRoutes         .../users... of an account or a customer
               _pbx_routes.PbxRoutes           .../pbxs..., /api/v1.0/pbxs?instanceId=
               (shared steps: _enterprise.EnterpriseSteps)
               _oauth_routes.OAuthRoutes       /connect/token, /connect/authorize
               (any other path)                404 with the service's error body

:class:`FakeService` owns one of each, builds the application from them and is the one
public face tests use: its methods and attributes forward to the room that keeps the
state. A new group of API resources is a new routes room whose ``route_table()`` is added
in :meth:`FakeService._make_app`, before the catch-all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from collections.abc import Set as AbstractSet
from typing import Any

from aiohttp import web

from ._billing_routes import BillingRoutes
from ._collection import InvoiceCollection
from ._credentials import Credentials
from ._directory import TenantDirectory, directory_factory
from ._enterprise import DEFAULT_CHARGES, EnterpriseSteps
from ._fault_injection import RANDOM_FAULT_KINDS, FaultPlan, RandomFaultKind
from ._faults import ROUTES, Fault, RecordedRequest, RouteName, route_group
from ._gateway import gateway_middlewares
from ._kept import Kept
from ._oauth_routes import OAuthRoutes
from ._pbx_routes import PbxRoutes
from ._rate_limit import TokenBucket
from ._replies import error_reply
from ._request_log import RequestLog
from ._tenant_routes import TenantRoutes
from ._user_routes import UserRoutes

__all__ = ["FakeService"]


async def _not_found(request: web.Request) -> web.StreamResponse:
    return error_reply(404)


class FakeService:
    """A fake MyReports billing service with a seeded invoice collection.

    Invoices are generated on demand from ``(seed, index)``: any ``invoice_count`` up to
    millions costs no memory, and the same seed serves the same data on every run.

    Args:
        invoice_count: invoices in the collection.
        seed: selects the generated data set.
        max_page_size: the server-side page-size cap: no page is longer, whatever
            ``pageSize`` asks. ``None``: no cap.
        access_tokens: static bearer tokens the API accepts, besides the tokens issued by
            ``/connect/token``.
        include_page_index: whether list answers carry ``page_index`` (the real service
            sometimes omits it).
        detail_items: items per invoice in the detail ZIP: a number, or a function from
            the invoice index to a number.
        summary_size: the approximate size in bytes of the summary PDF (a valid PDF padded
            with an unreferenced stream; it is never smaller than about 750 bytes).
        token_lifetime: seconds, the ``expires_in`` of issued access tokens; issued tokens
            really stop working after it.
        access_token_uses: how many API requests an issued access token is good for;
            after that the service revokes it (answers 401) whatever ``expires_in`` said,
            as a real service does after a sign-out elsewhere or a key rotation.
            ``None``: no such limit. Static ``access_tokens`` are not affected.
        rate_limit: requests per second the API routes accept (a token bucket holding
            ``rate_limit_burst`` requests, full at the start); beyond it they answer
            ``rate_limit_status`` with ``rate_limit_retry_after``. ``None``: no limit.
            Checked after the request is logged, before faults (and before any middleware
            appended to :attr:`app`), as a gateway in front of the service would.
        rate_limit_burst: how many requests the bucket holds (at least 1): so many pass at
            once after a quiet spell.
        rate_limit_status: the status of a refusal: 429, or 503 as nginx's ``limit_req``
            answers by default.
        rate_limit_retry_after: the refusal's ``Retry-After``: ``"exact"`` (the default)
            the seconds until the next request may pass, as a fraction (``0.125``), which
            keeps fast tests fast; a number: that many seconds whatever the wait, as real
            gateways send (``1``, ``0``); ``None``: no header at all.
        accounts: seeded accounts of the Enterprise resources (:attr:`directory`).
        customers_per_account: seeded customers per account; ``None`` (the default):
            every customer the invoices name, dealt round-robin over the accounts, so each
            invoice's ``tenantId`` is a customer's ``id``. The customers are always the
            invoices' customers (same ``tenantId`` and name), first ones first.
        users_per_tenant: seeded users of each account and of each customer.
        pbxs_per_customer: seeded PBX connections (Kazoo or 3CX) of each customer.
        charges: the operations answered ``402 Payment Required`` without
            ``accept-charges: true`` (see :data:`CHARGEABLE_OPERATIONS`); the default,
            :data:`DEFAULT_CHARGES`: creating an account, a customer or a PBX connection,
            and giving a customer user a licence role.
        page_size_as_string: whether the Enterprise listings send ``page_size`` as a
            string (``"4"``), as the documentation's template writes it.

    ``invoice_count``, ``max_page_size``, ``include_page_index``, ``detail_items``,
    ``summary_size``, ``token_lifetime``, ``access_token_uses``, the ``rate_limit``
    settings, ``charges`` and ``page_size_as_string`` are plain attributes: change them
    between requests to script a test (a collection that grows, a cap that appears).

    Example::

        service = FakeService(1000, max_page_size=100)
        service.inject(Fault.status(429, retry_after=0.01), route="list", page_index=3)
        async with FakeServer(service) as server:
            async with MyReportsClient("test-token", base_url=server.url) as client:
                ids = [invoice.invoice_id async for invoice in client.iter_invoices()]
        assert ids == service.invoice_ids()
        assert [r.status for r in service.list_requests() if r.page_index == 3] == [429, 200]
    """

    invoice_count = Kept[int]("_collection", "invoice_count")
    """Invoices in the collection."""
    detail_items = Kept[int | Callable[[int], int]]("_collection", "detail_items")
    """Items per invoice in the detail ZIP: a number, or a function of the invoice index."""
    summary_size = Kept[int]("_collection", "summary_size")
    """The approximate size in bytes of the summary PDF."""
    max_page_size = Kept[int | None]("_billing", "max_page_size")
    """The server-side page-size cap; ``None``: no cap."""
    include_page_index = Kept[bool]("_billing", "include_page_index")
    """Whether list answers carry ``page_index``."""
    token_lifetime = Kept[float]("_credentials", "token_lifetime")
    """Seconds, the ``expires_in`` of issued access tokens."""
    access_token_uses = Kept[int | None]("_credentials", "access_token_uses")
    """How many API requests an issued access token is good for; ``None``: no limit."""
    approve_authorization = Kept[bool]("_credentials", "approve_authorization")
    """Whether ``/connect/authorize`` signs the user in; ``False``: ``access_denied``."""
    rate_limit = Kept[float | None]("_bucket", "rate")
    """Requests per second the API routes accept; ``None``: no limit."""
    rate_limit_burst = Kept[float]("_bucket", "burst")
    """How many requests the rate limit's bucket holds (at least 1)."""
    rate_limit_status = Kept[int]("_bucket", "status")
    """The status a refused request gets (429, or 503 like nginx's ``limit_req``)."""
    rate_limit_retry_after = Kept["float | str | None"]("_bucket", "retry_after")
    """A refusal's ``Retry-After``: ``"exact"`` (fractional wait), seconds, or ``None``."""
    random_fault_counts = Kept[dict[str, int]]("_faults", "random_fault_counts")
    """How many faults of each kind :meth:`random_faults` injected so far."""
    charges = Kept[AbstractSet[str]]("_enterprise", "charges")
    """The operations answered 402 without ``accept-charges: true`` (names of
    :data:`CHARGEABLE_OPERATIONS`); assign another set to change them between requests."""
    page_size_as_string = Kept[bool]("_enterprise", "page_size_as_string")
    """Whether the Enterprise listings send ``page_size`` as a string."""

    def __init__(
        self,
        invoice_count: int = 250,
        *,
        seed: int = 0,
        max_page_size: int | None = None,
        access_tokens: Iterable[str] = ("test-token",),
        include_page_index: bool = True,
        detail_items: int | Callable[[int], int] = 3,
        summary_size: int = 2048,
        token_lifetime: float = 3600,
        access_token_uses: int | None = None,
        rate_limit: float | None = None,
        rate_limit_burst: float = 1.0,
        rate_limit_status: int = 429,
        rate_limit_retry_after: float | str | None = "exact",
        accounts: int = 2,
        customers_per_account: int | None = None,
        users_per_tenant: int = 2,
        pbxs_per_customer: int = 1,
        charges: Collection[str] = DEFAULT_CHARGES,
        page_size_as_string: bool = False,
    ) -> None:
        self._collection = InvoiceCollection(
            invoice_count, seed=seed, detail_items=detail_items, summary_size=summary_size
        )
        self._credentials = Credentials(
            access_tokens, token_lifetime=token_lifetime, access_token_uses=access_token_uses
        )
        self._billing = BillingRoutes(
            self._collection,
            self._credentials,
            max_page_size=max_page_size,
            include_page_index=include_page_index,
        )
        if not (
            rate_limit_retry_after is None
            or rate_limit_retry_after == "exact"
            or (isinstance(rate_limit_retry_after, (int, float)) and rate_limit_retry_after >= 0)
        ):
            raise ValueError(
                f'rate_limit_retry_after must be "exact", 0 or more seconds, or None, '
                f"not {rate_limit_retry_after!r}"
            )
        self._bucket = TokenBucket(
            rate_limit,
            burst=rate_limit_burst,
            status=rate_limit_status,
            retry_after=rate_limit_retry_after,
        )
        self._new_directory = directory_factory(
            seed=seed,
            accounts=accounts,
            customers_per_account=customers_per_account,
            users_per_tenant=users_per_tenant,
            pbxs_per_customer=pbxs_per_customer,
        )
        self._directory: TenantDirectory | None = None
        self._enterprise = EnterpriseSteps(
            lambda: self.directory,
            self._credentials,
            charges=charges,
            page_size_as_string=page_size_as_string,
        )
        self._faults = FaultPlan()
        self._log = RequestLog()
        self.app: web.Application = self._make_app()
        """The :class:`aiohttp.web.Application` serving the fake API.

        Its middlewares start with the gateway's (request log, rate limit, faults); a
        middleware appended to ``app.middlewares`` runs behind them, next to the routes.
        """

    def _make_app(self) -> web.Application:
        app = web.Application(
            middlewares=gateway_middlewares(
                self._log, self._credentials.caller_accepted, self._bucket, self._faults
            )
        )
        app.add_routes(self._billing.route_table())
        for room in (TenantRoutes, UserRoutes, PbxRoutes):
            app.add_routes(room(self._enterprise).route_table())
        app.add_routes(OAuthRoutes(self._credentials).route_table())
        # Last: aiohttp tries routes in order, and this one takes every path and method.
        app.add_routes([web.route("*", "/{tail:.*}", _not_found, name="other")])
        # The gateway logs, limits and faults requests by route name: a route whose name
        # it does not know would pass as "other" without a word. Add new names to ROUTES.
        unknown = {route_group(route.name) for route in app.router.routes()} - ROUTES
        if unknown:
            raise RuntimeError(f"routes named outside _faults.ROUTES: {sorted(map(str, unknown))}")
        return app

    def __repr__(self) -> str:
        return f"<FakeService invoice_count={self.invoice_count} seed={self.seed}>"

    # -- data ------------------------------------------------------------------------------

    @property
    def seed(self) -> int:
        """The seed of the generated data set."""
        return self._collection.seed

    @property
    def access_tokens(self) -> tuple[str, ...]:
        """The static bearer tokens given at construction."""
        return self._credentials.static_tokens

    def invoice_id(self, index: int) -> str:
        """The id of invoice ``index`` (0-based, in server order)."""
        collection = self._collection
        return collection.invoice_id(collection.checked(index))

    def invoice_ids(self) -> list[str]:
        """Every invoice id in server order (for millions of invoices, prefer :meth:`invoice_id`).

        Example::

            ids = [invoice.invoice_id async for invoice in client.iter_invoices()]
            assert ids == service.invoice_ids()
        """
        collection = self._collection
        return [collection.invoice_id(collection.source(i)) for i in range(self.invoice_count)]

    def insert_invoices(self, *, at: int, count: int = 1) -> list[str]:
        """Insert ``count`` new invoices at position ``at``; return their ids.

        Every invoice from ``at`` on moves ``count`` places back, as when the real
        service receives new invoices while someone pages through the list: the next page
        then starts with invoices the previous page already held (offset drift). Call it
        between page requests (from a test, or a hook) to script that.

        Example::

            service.insert_invoices(at=0, count=3)
            assert service.invoice_count == old_count + 3
        """
        return self._collection.insert(at=at, count=count)

    def invoice_json(self, index: int) -> dict[str, Any]:
        """The JSON object of invoice ``index``, exactly as the list and single routes serve it."""
        collection = self._collection
        return collection.invoice_json(collection.checked(index))

    def item_count(self, index: int) -> int:
        """How many items the detail of invoice ``index`` holds."""
        return self._collection.item_count(index)

    def detail_json(self, index: int) -> dict[str, Any]:
        """The detail JSON object of invoice ``index`` (the JSON file inside the ZIP)."""
        collection = self._collection
        return collection.detail_json(collection.checked(index), collection.item_count(index))

    def detail_zip(self, index: int) -> bytes:
        """The detail ZIP of invoice ``index``, byte for byte as the detail route serves it."""
        collection = self._collection
        source = collection.checked(index)
        return b"".join(collection.detail_zip(source, collection.item_count(index)))

    def summary_pdf(self, index: int) -> bytes:
        """The summary PDF of invoice ``index``, byte for byte as the summary route serves it."""
        collection = self._collection
        return collection.summary_pdf(collection.checked(index))

    @property
    def directory(self) -> TenantDirectory:
        """The Enterprise state: accounts, customers, users, PBX connections.

        Built on first use (a request to an Enterprise route, or this property) from the
        ``invoice_count`` at that moment: its customers are the invoices' customers.

        Example::

            invoices = [service.invoice_json(i) for i in range(service.invoice_count)]
            references = {c["id"]: c["reference"]
                          for a in service.directory.accounts()
                          for c in service.directory.customers(a["id"])}
            assert all(invoice["tenantId"] in references for invoice in invoices)
        """
        if self._directory is None:
            self._directory = self._new_directory(self.invoice_count)
        return self._directory

    # -- request log -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a snapshot)."""
        return self._log.snapshot()

    def list_requests(self) -> list[RecordedRequest]:
        """The logged requests of the list route (``GET /api/v1.0/billingdata``)."""
        return self._log.snapshot("list")

    def clear_requests(self) -> None:
        """Forget the logged requests (requests in flight are still updated, but not listed)."""
        self._log.clear()

    # -- faults ----------------------------------------------------------------------------

    def inject(
        self,
        fault: Fault,
        *,
        route: RouteName | None = None,
        page_index: int | None = None,
        times: int | None = 1,
        method: str | None = None,
    ) -> None:
        """Script ``fault`` for the next ``times`` matching requests (``None``: all of them).

        ``route`` is a :data:`RouteName` (``"list"``, ``"invoice"``, ``"accounts"``,
        ``"customers"``, ``"token"``...); ``None`` matches every API route (not the OAuth
        endpoints). ``page_index`` narrows a fault to the listing request for that page
        (of ``"list"`` or of an Enterprise listing); ``method`` to requests of that method
        (``"POST"``: the creates; ``None``: any). Faults are tried in injection order; the
        first one that matches and is not used up is applied.

        Example::

            service.inject(Fault.status(503), route="list", page_index=1, times=2)
            service.inject(Fault.drop(mid_body=False), route="token")
            service.inject(Fault.status(503), route="accounts", method="POST")
        """
        self._faults.inject(fault, route=route, page_index=page_index, times=times, method=method)

    def pending_faults(self) -> list[Fault]:
        """The injected faults not used up yet, in injection order."""
        return self._faults.pending()

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._faults.clear()

    def random_faults(
        self,
        rate: float,
        *,
        seed: int = 0,
        kinds: Iterable[RandomFaultKind] = RANDOM_FAULT_KINDS,
        route: RouteName | None = "list",
        slow_seconds: float = 1.0,
        retry_after: float = 0.01,
    ) -> None:
        """Hit a random ``rate`` of requests with a transient fault (after scripted ones).

        Each matching request without a scripted fault draws from a ``random.Random(seed)``:
        with probability ``rate`` it gets one of ``kinds``, chosen uniformly:

        - ``"503"``: the error body with status 503;
        - ``"429"``: status 429 with ``Retry-After: retry_after``;
        - ``"drop_mid_body"``: headers, half the body, then the connection is cut;
        - ``"drop_before_headers"``: the connection is cut before any byte (aiohttp
          repeats a GET once by itself, so the client often never sees this one);
        - ``"slow"``: nothing for ``slow_seconds`` (make it longer than the client's
          ``timeout``), then the normal answer.

        ``route`` narrows it like :meth:`inject` (``None``: every API route). Counts
        per kind are in :attr:`random_fault_counts`; ``rate=0`` switches it off.

        Example::

            service.random_faults(0.05, seed=1, slow_seconds=0.3)
        """
        self._faults.randomize(
            rate,
            seed=seed,
            kinds=kinds,
            route=route,
            slow_seconds=slow_seconds,
            retry_after=retry_after,
        )

    # -- credentials -----------------------------------------------------------------------

    def add_oauth_client(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str | None = None,
        *,
        redirect_uris: Iterable[str] | None = None,
    ) -> None:
        """Register an OAuth client for ``/connect/token`` and one live refresh token of it.

        Each successful grant rotates the refresh token: the answer carries a new one and
        the used one stops working (``invalid_grant``). Calling again for the same client
        replaces its secret and adds another live refresh token.

        ``/connect/authorize`` accepts the client's ``redirect_uris`` exactly as given;
        without them (``None``), any ``http://`` loopback URI (any port, as RFC 8252 asks)
        or ``https://`` URI. ``refresh_token`` may be left out for a client that only
        signs in through ``/connect/authorize``.

        Example::

            service.add_oauth_client("my-app", "s3cret", "refresh-1")
            auth = RefreshTokenAuth(client_id="my-app", client_secret="s3cret",
                                    refresh_token="refresh-1", token_url=server.token_url)
        """
        self._credentials.add_client(client_id, client_secret, refresh_token, redirect_uris)

    def expire_access_tokens(self, *, revoke_static: bool = False) -> None:
        """Make every access token issued so far invalid: the API answers them 401.

        The static ``access_tokens`` stay valid unless ``revoke_static`` is true (then
        they stay revoked for the life of the service). Refresh tokens are not affected,
        so a client holding one can get a new access token.

        Example::

            service.expire_access_tokens()
            invoice = await client.get_invoice(service.invoice_id(0))  # refreshes once
        """
        self._credentials.expire_access_tokens(revoke_static=revoke_static)

    # The repository's own tests read the issued access tokens (to look for them in logs)
    # and revoke a refresh token through these two names.

    @property
    def _issued(self) -> dict[str, float]:
        return self._credentials.issued

    @property
    def _refresh_owners(self) -> dict[str, str]:
        return self._credentials.refresh_owners
