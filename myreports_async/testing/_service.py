"""The fake MyReports service: an aiohttp.web application and a server for it.

:class:`FakeService` holds the state (the seeded invoice collection, the accepted tokens,
the OAuth clients, the scripted faults and the request log) and builds the
:class:`aiohttp.web.Application`; :class:`FakeServer` runs that application on a real
TCP socket. The fake implements the contract's routes::

    GET  /api/v1.0/billingdata?pageIndex=N&pageSize=M   a page of invoices
    GET  /api/v1.0/billingdata/{id}                     one invoice
    GET  /api/v1.0/billingdata/{id}/detail              a ZIP (detail JSON + simplified CSV)
    GET  /api/v1.0/billingdata/{id}/summary             a PDF
    GET  /connect/authorize                             OAuth2 authorization (PKCE S256):
                                                        redirects at once with a code
    POST /connect/token                                 OAuth2 refresh-token and
                                                        authorization-code grants

Every other path answers 404 with the service's error body.

How a request is handled (the order matters to tests):

1. It is logged at once (so the log is in arrival order), with its route, its
   ``pageIndex`` and whether its credentials are accepted.
2. The first matching scripted fault, if any, is taken and its count decremented. Faults
   are matched before authentication, as a gateway in front of the service would act.
3. Without a fault (or after a ``delay``) the request is answered like the real
   service: 401 without an accepted token, 400 for malformed input, 404 for unknown ids.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import http
import ipaddress
import math
import random
import re
import secrets
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Final, Literal
from urllib.parse import unquote_plus, urlencode, urlsplit

import attrs
import orjson
from aiohttp import web

from ._data import InvoiceFactory, utc_timestamp
from ._faults import API_ROUTES, ROUTES, Fault, RecordedRequest, RouteName
from ._pdf import render_summary_pdf

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "RANDOM_FAULT_KINDS",
    "FakeServer",
    "FakeService",
    "RandomFaultKind",
]

RandomFaultKind = Literal["503", "429", "drop_mid_body", "drop_before_headers", "slow"]
"""The transient faults :meth:`FakeService.random_faults` picks from."""

RANDOM_FAULT_KINDS: Final[tuple[RandomFaultKind, ...]] = (
    "503",
    "429",
    "drop_mid_body",
    "drop_before_headers",
    "slow",
)

_INSERTED_BASE = 1 << 40  # generator indexes of inserted invoices: far from the seeded ones

DEFAULT_PAGE_SIZE = 1000
"""The page size the service uses when a list request has no ``pageSize``."""

_API = "/api/v1.0/billingdata"
_INVOICE_ID = re.compile(r"[0-9a-f]{24}")
_SCOPE = "openid offline_access onboarding"
_JSON = "application/json; charset=utf-8"
_BINARY = "application/octet-stream"
_CODE_LIFETIME = 300.0  # seconds an authorization code may wait for its exchange


# -- replies -------------------------------------------------------------------------------


@attrs.define
class _Reply:
    """An answer not yet sent: a body in memory, or chunks to stream."""

    status: int
    body: bytes = b""
    chunks: Iterator[bytes] | None = None
    content_type: str = _JSON
    headers: dict[str, str] = attrs.Factory(dict)

    def materialize(self) -> bytes:
        if self.chunks is None:
            return self.body
        return b"".join(self.chunks)


def _json_reply(status: int, payload: Mapping[str, Any], **headers: str) -> _Reply:
    return _Reply(status, orjson.dumps(payload), headers=dict(headers))


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _error_reply(status: int, message: str | None = None, **headers: str) -> _Reply:
    payload = {
        "error": status,
        "message": message if message is not None else _reason(status),
        "status": "error",
        "timestamp": utc_timestamp(),
    }
    return _json_reply(status, payload, **headers)


def _oauth_error(status: int, error: str, description: str, **headers: str) -> _Reply:
    payload = {"error": error, "error_description": description}
    return _json_reply(status, payload, **{"Cache-Control": "no-store", **headers})


def _retry_after_header(value: float | str) -> str:
    if isinstance(value, str):
        return value
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _shown(raw: str) -> str:
    """Echo of a client value in an error message: short and printable."""
    return "".join(c if c.isprintable() else "?" for c in raw[:64])


def _int_param(query: Mapping[str, str], name: str, default: int, minimum: int) -> int | str:
    """The integer query parameter ``name``, or the error message for a bad one."""
    raw = query.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[+-]?[0-9]{1,18}", raw.strip()):
        return f"The value '{_shown(raw)}' is not valid for {name}."
    value = int(raw)
    if value < minimum:
        return f"{name} must be {minimum} or greater."
    return value


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _new_access_token(lifetime: float) -> str:
    """A random token shaped like the real service's JWTs (the signature is random)."""
    header = _b64url(orjson.dumps({"alg": "RS256", "typ": "JWT"}))
    claims = {
        "iss": "https://login.xarios.cloud",
        "exp": int(time.time() + lifetime),
        "scope": _SCOPE,
        "jti": secrets.token_hex(16),
    }
    return f"{header}.{_b64url(orjson.dumps(claims))}.{secrets.token_urlsafe(32)}"


def _loopback_or_https(uri: str) -> bool:
    """Whether a redirect URI is acceptable without registration (RFC 8252: loopback)."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises for a bad port)
    except ValueError:
        return False
    if parts.fragment or not host:
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- state ---------------------------------------------------------------------------------


@attrs.frozen
class _AuthorizationCode:
    client_id: str
    redirect_uri: str
    code_challenge: str
    expires: float  # time.monotonic()


@attrs.define
class _Injection:
    fault: Fault
    route: str | None
    page_index: int | None
    remaining: int | None  # None: forever

    def matches(self, route: RouteName, page_index: int | None) -> bool:
        if self.route is None:
            if route not in API_ROUTES:
                return False
        elif self.route != route:
            return False
        return self.page_index is None or self.page_index == page_index


@attrs.frozen
class _RandomFaults:
    rate: float
    rng: random.Random
    kinds: tuple[str, ...]
    route: RouteName | None
    faults: Mapping[str, Fault]


@attrs.define
class _LogEntry:
    method: str
    path: str
    query: dict[str, str]
    route: RouteName
    page_index: int | None
    authorized: bool
    status: int = 0

    def freeze(self) -> RecordedRequest:
        return RecordedRequest(
            method=self.method,
            path=self.path,
            query=dict(self.query),
            route=self.route,
            page_index=self.page_index,
            status=self.status,
            authorized=self.authorized,
        )


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
            ``rate_limit_burst`` requests, 1 unless changed); beyond it they answer 429
            with a ``Retry-After`` (fractional seconds) until the next request may pass.
            ``None``: no limit. Checked after the request is logged, before faults, as a
            gateway in front of the service would.

    ``invoice_count``, ``max_page_size``, ``include_page_index``, ``detail_items``,
    ``summary_size``, ``token_lifetime``, ``access_token_uses``, ``rate_limit`` and
    ``rate_limit_burst`` are
    plain attributes: change them between requests to script a test (a collection that
    grows, a cap that appears).

    Example::

        service = FakeService(1000, max_page_size=100)
        service.inject(Fault.status(429, retry_after=0.01), route="list", page_index=3)
        async with FakeServer(service) as server:
            async with MyReportsClient("test-token", base_url=server.url) as client:
                ids = [invoice.invoice_id async for invoice in client.iter_invoices()]
        assert ids == service.invoice_ids()
        assert [r.status for r in service.list_requests() if r.page_index == 3] == [429, 200]
    """

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
    ) -> None:
        if invoice_count < 0:
            raise ValueError(f"invoice_count must be >= 0, got {invoice_count!r}")
        if max_page_size is not None and max_page_size < 1:
            raise ValueError(f"max_page_size must be >= 1 or None, got {max_page_size!r}")
        if isinstance(detail_items, int) and detail_items < 0:
            raise ValueError(f"detail_items must be >= 0, got {detail_items!r}")
        if summary_size < 0:
            raise ValueError(f"summary_size must be >= 0, got {summary_size!r}")
        if not token_lifetime > 0:
            raise ValueError(f"token_lifetime must be > 0, got {token_lifetime!r}")
        if access_token_uses is not None and access_token_uses < 1:
            raise ValueError(f"access_token_uses must be >= 1 or None, got {access_token_uses!r}")
        tokens = (access_tokens,) if isinstance(access_tokens, str) else tuple(access_tokens)
        if not all(tokens):
            raise ValueError("access tokens must be non-empty strings")
        self.invoice_count = invoice_count
        self.max_page_size = max_page_size
        self.include_page_index = include_page_index
        self.detail_items = detail_items
        self.summary_size = summary_size
        self.token_lifetime = token_lifetime
        self.access_token_uses = access_token_uses
        if rate_limit is not None and not rate_limit > 0:
            raise ValueError(f"rate_limit must be > 0 or None, got {rate_limit!r}")
        self.rate_limit = rate_limit
        self.rate_limit_burst = 1.0
        self._bucket: tuple[float, float] | None = None  # (requests held, at monotonic time)
        self._seed = seed
        self._factory = InvoiceFactory(seed)
        self._static_tokens = tokens
        self._static_revoked = False
        self._issued: dict[str, float] = {}  # access token -> time.monotonic() expiry
        self._token_uses: dict[str, int] = {}  # issued access token -> API requests served
        self._client_secrets: dict[str, str] = {}
        self._refresh_owners: dict[str, str] = {}  # live refresh token -> client id
        self._redirect_uris: dict[str, frozenset[str]] = {}  # client id -> registered
        self._codes: dict[str, _AuthorizationCode] = {}  # live authorization codes
        self.approve_authorization = True
        """Whether ``/connect/authorize`` signs the user in; ``False``: ``access_denied``."""
        self._injections: list[_Injection] = []
        self._random: _RandomFaults | None = None
        self.random_fault_counts: dict[str, int] = {}
        """How many faults of each kind :meth:`random_faults` injected so far."""
        # Insertions (insert_invoices): position -> generator index, once there are any.
        self._order: list[int] | None = None
        self._inserted: set[int] = set()
        self._log: list[_LogEntry] = []
        self.app: web.Application = self._make_app()
        """The :class:`aiohttp.web.Application` serving the fake API."""

    def __repr__(self) -> str:
        return f"<FakeService invoice_count={self.invoice_count} seed={self._seed}>"

    # -- data ------------------------------------------------------------------------------

    @property
    def seed(self) -> int:
        """The seed of the generated data set."""
        return self._seed

    @property
    def access_tokens(self) -> tuple[str, ...]:
        """The static bearer tokens given at construction."""
        return self._static_tokens

    def invoice_id(self, index: int) -> str:
        """The id of invoice ``index`` (0-based, in server order)."""
        return self._factory.invoice_id(self._checked(index))

    def invoice_ids(self) -> list[str]:
        """Every invoice id in server order (for millions of invoices, prefer :meth:`invoice_id`).

        Example::

            ids = [invoice.invoice_id async for invoice in client.iter_invoices()]
            assert ids == service.invoice_ids()
        """
        return [self._factory.invoice_id(self._source(i)) for i in range(self.invoice_count)]

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
        if not 0 <= at <= self.invoice_count:
            raise ValueError(f"at must be in 0..{self.invoice_count}, got {at!r}")
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count!r}")
        if self._order is None:
            self._order = list(range(self.invoice_count))
        start = _INSERTED_BASE + len(self._inserted)
        new = list(range(start, start + count))
        self._order[at:at] = new
        self._inserted.update(new)
        self.invoice_count += count
        return [self._factory.invoice_id(i) for i in new]

    def _source(self, position: int) -> int:
        """The generator index of the invoice at ``position`` (after any insertions)."""
        order = self._order
        if order is None:
            return position
        if position < len(order):
            return order[position]
        return position - len(self._inserted)  # invoice_count was raised after inserting

    def invoice_json(self, index: int) -> dict[str, Any]:
        """The JSON object of invoice ``index``, exactly as the list and single routes serve it."""
        return self._factory.invoice_json(self._checked(index))

    def item_count(self, index: int) -> int:
        """How many items the detail of invoice ``index`` holds."""
        count = self.detail_items(index) if callable(self.detail_items) else self.detail_items
        if count < 0:
            raise ValueError(f"detail_items gave {count!r} for invoice {index}")
        return count

    def detail_json(self, index: int) -> dict[str, Any]:
        """The detail JSON object of invoice ``index`` (the JSON file inside the ZIP)."""
        return self._factory.detail_json(self._checked(index), self.item_count(index))

    def detail_zip(self, index: int) -> bytes:
        """The detail ZIP of invoice ``index``, byte for byte as the detail route serves it."""
        index = self._checked(index)
        return b"".join(self._factory.iter_detail_zip(index, self.item_count(index)))

    def summary_pdf(self, index: int) -> bytes:
        """The summary PDF of invoice ``index``, byte for byte as the summary route serves it."""
        return self._summary_pdf_of(self._checked(index))

    def _summary_pdf_of(self, source: int) -> bytes:
        number, customer, period, value = self._factory.summary_facts(source)
        return render_summary_pdf(
            invoice_number=number,
            customer_name=customer,
            period=period,
            value=value,
            size=self.summary_size,
        )

    def _checked(self, index: int) -> int:
        if not 0 <= index < self.invoice_count:
            raise IndexError(f"invoice index {index} out of range 0..{self.invoice_count - 1}")
        return self._source(index)

    # -- request log -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a snapshot)."""
        return [entry.freeze() for entry in self._log]

    def list_requests(self) -> list[RecordedRequest]:
        """The logged requests of the list route (``GET /api/v1.0/billingdata``)."""
        return [entry.freeze() for entry in self._log if entry.route == "list"]

    def clear_requests(self) -> None:
        """Forget the logged requests (requests in flight are still updated, but not listed)."""
        self._log = []

    # -- faults ----------------------------------------------------------------------------

    def inject(
        self,
        fault: Fault,
        *,
        route: RouteName | None = None,
        page_index: int | None = None,
        times: int | None = 1,
    ) -> None:
        """Script ``fault`` for the next ``times`` matching requests (``None``: all of them).

        ``route`` is one of ``"list"``, ``"invoice"``, ``"detail"``, ``"summary"``,
        ``"token"``, ``"authorize"``; ``None`` matches the four API routes (not the OAuth
        endpoints).
        ``page_index`` narrows a fault to the list request for that page. Faults are tried
        in injection order; the first one that matches and is not used up is applied.

        Example::

            service.inject(Fault.status(503), route="list", page_index=1, times=2)
            service.inject(Fault.drop(mid_body=False), route="token")
        """
        if route is not None and (route not in ROUTES or route == "other"):
            raise ValueError(f"unknown route {route!r}")
        if page_index is not None:
            if route not in (None, "list"):
                raise ValueError("page_index only applies to list requests")
            if page_index < 0:
                raise ValueError(f"page_index must be >= 0, got {page_index!r}")
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None, got {times!r}")
        self._injections.append(_Injection(fault, route, page_index, times))

    def pending_faults(self) -> list[Fault]:
        """The injected faults not used up yet, in injection order."""
        return [injection.fault for injection in self._injections]

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._injections.clear()

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

        ``route`` narrows it like :meth:`inject` (``None``: the four API routes). Counts
        per kind are in :attr:`random_fault_counts`; ``rate=0`` switches it off.

        Example::

            service.random_faults(0.05, seed=1, slow_seconds=0.3)
        """
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be in 0..1, got {rate!r}")
        chosen = tuple(kinds)
        if not chosen or any(kind not in RANDOM_FAULT_KINDS for kind in chosen):
            raise ValueError(f"kinds must be some of {RANDOM_FAULT_KINDS}, got {chosen!r}")
        if route is not None and (route not in ROUTES or route == "other"):
            raise ValueError(f"unknown route {route!r}")
        faults: dict[str, Fault] = {
            "503": Fault.status(503),
            "429": Fault.status(429, retry_after=retry_after),
            "drop_mid_body": Fault.drop(),
            "drop_before_headers": Fault.drop(mid_body=False),
            "slow": Fault.delay(slow_seconds),
        }
        self._random = (
            _RandomFaults(rate, random.Random(seed), chosen, route, faults)  # noqa: S311
            if rate
            else None
        )

    def _take_fault(self, route: RouteName, page_index: int | None) -> Fault | None:
        for injection in self._injections:
            if injection.matches(route, page_index):
                if injection.remaining is not None:
                    injection.remaining -= 1
                    if injection.remaining == 0:
                        self._injections.remove(injection)
                return injection.fault
        chance = self._random
        if chance is None or not _Injection(Fault.drop(), chance.route, None, None).matches(
            route, None
        ):
            return None
        if chance.rng.random() >= chance.rate:
            return None
        kind = chance.rng.choice(chance.kinds)
        self.random_fault_counts[kind] = self.random_fault_counts.get(kind, 0) + 1
        return chance.faults[kind]

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
        if not client_id or refresh_token == "":
            raise ValueError("client_id and refresh_token must be non-empty")
        self._client_secrets[client_id] = client_secret
        if refresh_token is not None:
            self._refresh_owners[refresh_token] = client_id
        if redirect_uris is None:
            self._redirect_uris.pop(client_id, None)
        else:
            self._redirect_uris[client_id] = frozenset(redirect_uris)

    def expire_access_tokens(self, *, revoke_static: bool = False) -> None:
        """Make every access token issued so far invalid: the API answers them 401.

        The static ``access_tokens`` stay valid unless ``revoke_static`` is true (then
        they stay revoked for the life of the service). Refresh tokens are not affected,
        so a client holding one can get a new access token.

        Example::

            service.expire_access_tokens()
            invoice = await client.get_invoice(service.invoice_id(0))  # refreshes once
        """
        self._issued.clear()
        self._token_uses.clear()
        if revoke_static:
            self._static_revoked = True

    def _bearer_accepted(self, request: web.BaseRequest) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        if not self._static_revoked and any(_same(token, t) for t in self._static_tokens):
            return True
        expiry = self._issued.get(token)
        if expiry is None:
            return False
        if time.monotonic() >= expiry:
            del self._issued[token]
            return False
        uses = self._token_uses.get(token, 0) + 1
        if self.access_token_uses is not None and uses > self.access_token_uses:
            del self._issued[token]
            self._token_uses.pop(token, None)
            return False
        self._token_uses[token] = uses
        return True

    async def _client_id(self, request: web.BaseRequest) -> str | None:
        """The OAuth client whose credentials (HTTP Basic, else form fields) are valid."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            client_id, colon, secret = decoded.partition(":")
            if not colon:
                return None
            # RFC 6749 section 2.3.1: both parts are form-urlencoded before base64.
            client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        else:
            form = await request.post()
            form_id, form_secret = form.get("client_id"), form.get("client_secret")
            if not isinstance(form_id, str) or not isinstance(form_secret, str):
                return None
            client_id, secret = form_id, form_secret
        expected = self._client_secrets.get(client_id)
        if expected is None or not _same(secret, expected):
            return None
        return client_id

    # -- routes ----------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application()
        router = app.router
        router.add_get(_API, self._on_list, allow_head=False)
        router.add_get(_API + "/{invoice_id}", self._on_invoice, allow_head=False)
        router.add_get(_API + "/{invoice_id}/detail", self._on_detail, allow_head=False)
        router.add_get(_API + "/{invoice_id}/summary", self._on_summary, allow_head=False)
        router.add_post("/connect/token", self._on_token)
        router.add_get("/connect/authorize", self._on_authorize, allow_head=False)
        router.add_route("*", "/{tail:.*}", self._on_other)
        return app

    async def _on_list(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "list")

    async def _on_invoice(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "invoice")

    async def _on_detail(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "detail")

    async def _on_summary(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "summary")

    async def _on_token(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "token")

    async def _on_authorize(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "authorize")

    async def _on_other(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "other")

    async def _build(self, request: web.Request, route: RouteName, authorized: bool) -> _Reply:
        """The normal answer, as the real service would give it."""
        if route == "token":
            return await self._token_reply(request)
        if route == "authorize":
            return self._authorize_reply(request)
        if route == "other":
            return _error_reply(404)
        if not authorized:
            return _error_reply(401, "Unauthorized", **{"WWW-Authenticate": "Bearer"})
        if route == "list":
            return self._list_reply(request)
        index = self._lookup(request.match_info["invoice_id"])
        if isinstance(index, _Reply):
            return index
        if route == "invoice":
            payload = {
                "data": self._factory.invoice_json(index),
                "status": "success",
                "timestamp": utc_timestamp(),
            }
            return _json_reply(200, payload)
        number = self._factory.invoice_json(index)["invoiceNumber"]
        if route == "detail":
            return _Reply(
                200,
                chunks=self._factory.iter_detail_zip(index, self.item_count(index)),
                content_type=_BINARY,
                headers={
                    "Content-Disposition": f'attachment; filename="invoice_{number}_detail.zip"'
                },
            )
        return _Reply(
            200,
            self._summary_pdf_of(index),
            content_type=_BINARY,
            headers={"Content-Disposition": f'attachment; filename="invoice_{number}.pdf"'},
        )

    def _list_reply(self, request: web.Request) -> _Reply:
        page_index = _int_param(request.query, "pageIndex", 0, 0)
        if isinstance(page_index, str):
            return _error_reply(400, page_index)
        page_size = _int_param(request.query, "pageSize", DEFAULT_PAGE_SIZE, 1)
        if isinstance(page_size, str):
            return _error_reply(400, page_size)
        if self.max_page_size is not None:
            page_size = min(page_size, self.max_page_size)
        start = page_index * page_size
        stop = min(start + page_size, self.invoice_count)
        if self._order is None:
            data = [self._factory.invoice_json(i) for i in range(start, stop)]
        else:
            data = [self._factory.invoice_json(self._source(i)) for i in range(start, stop)]
        payload: dict[str, Any] = {"page_size": len(data)}
        if self.include_page_index:
            payload["page_index"] = page_index
        payload.update(data=data, status="success", timestamp=utc_timestamp())
        return _json_reply(200, payload)

    def _lookup(self, invoice_id: str) -> int | _Reply:
        if not _INVOICE_ID.fullmatch(invoice_id):
            return _error_reply(400, f"The value '{_shown(invoice_id)}' is not valid.")
        index = self._factory.index_of(invoice_id)
        if index is None or not (
            index < self.invoice_count - len(self._inserted) or index in self._inserted
        ):
            return _error_reply(404)
        return index

    async def _token_reply(self, request: web.Request) -> _Reply:
        client_id = await self._client_id(request)
        if client_id is None:
            return _oauth_error(
                401,
                "invalid_client",
                "Unknown client or wrong client secret.",
                **{"WWW-Authenticate": 'Basic realm="myreports-async fake"'},
            )
        form = await request.post()
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._code_grant_reply(client_id, form)
        if grant_type != "refresh_token":
            if not grant_type:
                return _oauth_error(400, "invalid_request", "grant_type is required.")
            return _oauth_error(
                400,
                "unsupported_grant_type",
                "Only refresh_token and authorization_code are supported.",
            )
        refresh_token = form.get("refresh_token")
        if not isinstance(refresh_token, str) or not refresh_token:
            return _oauth_error(400, "invalid_request", "refresh_token is required.")
        if self._refresh_owners.get(refresh_token) != client_id:
            return _oauth_error(
                400, "invalid_grant", "The refresh token is invalid, expired or already used."
            )
        del self._refresh_owners[refresh_token]  # rotation: a refresh token works once
        return self._issue_tokens(client_id)

    def _issue_tokens(self, client_id: str) -> _Reply:
        access_token = _new_access_token(self.token_lifetime)
        new_refresh_token = secrets.token_urlsafe(32)
        self._issued[access_token] = time.monotonic() + self.token_lifetime
        self._refresh_owners[new_refresh_token] = client_id
        payload = {
            "access_token": access_token,
            "refresh_token": new_refresh_token,
            "expires_in": self.token_lifetime,
            "token_type": "Bearer",
            "scope": _SCOPE,
        }
        return _json_reply(200, payload, **{"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _authorize_reply(self, request: web.Request) -> _Reply:
        """RFC 6749 4.1: a bad client or redirect URI is answered here, not redirected."""
        query = request.query
        client_id = query.get("client_id", "")
        redirect_uri = query.get("redirect_uri", "")
        if client_id not in self._client_secrets:
            return _oauth_error(400, "invalid_client", "Unknown client_id.")
        registered = self._redirect_uris.get(client_id)
        if not (
            redirect_uri in registered
            if registered is not None
            else _loopback_or_https(redirect_uri)
        ):
            return _oauth_error(400, "invalid_request", "redirect_uri is not registered.")

        def back(**params: str) -> _Reply:
            separator = "&" if "?" in redirect_uri else "?"
            location = redirect_uri + separator + urlencode(params)
            return _Reply(302, headers={"Location": location, "Cache-Control": "no-store"})

        state = query.get("state")
        echo = {"state": state} if state is not None else {}
        if query.get("response_type") != "code":
            return back(
                error="unsupported_response_type",
                error_description="Only response_type=code is supported.",
                **echo,
            )
        challenge = query.get("code_challenge", "")
        if query.get("code_challenge_method") != "S256" or not challenge:
            return back(
                error="invalid_request",
                error_description="PKCE with code_challenge_method=S256 is required.",
                **echo,
            )
        if not state:
            return back(error="invalid_request", error_description="state is required.")
        if not self.approve_authorization:
            return back(
                error="access_denied", error_description="The user declined the sign-in.", **echo
            )
        code = secrets.token_urlsafe(24)
        self._codes[code] = _AuthorizationCode(
            client_id, redirect_uri, challenge, time.monotonic() + _CODE_LIFETIME
        )
        return back(code=code, state=state)

    def _code_grant_reply(self, client_id: str, form: Mapping[str, object]) -> _Reply:
        code = form.get("code")
        if not isinstance(code, str) or not code:
            return _oauth_error(400, "invalid_request", "code is required.")
        grant = self._codes.pop(code, None)  # one use only, whatever happens next
        if grant is None or grant.client_id != client_id or time.monotonic() >= grant.expires:
            return _oauth_error(
                400, "invalid_grant", "The authorization code is invalid, expired or already used."
            )
        if form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error(
                400, "invalid_grant", "redirect_uri does not match the authorization request."
            )
        verifier = form.get("code_verifier")
        if not isinstance(verifier, str) or not verifier:
            return _oauth_error(400, "invalid_request", "code_verifier is required.")
        computed = _b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
        if not _same(computed, grant.code_challenge):
            return _oauth_error(400, "invalid_grant", "The code_verifier does not match.")
        return self._issue_tokens(client_id)

    # -- dispatch --------------------------------------------------------------------------

    def _rate_limit_wait(self) -> float | None:
        """Take a request from the token bucket: ``None`` if it may pass, else the seconds
        until one may."""
        rate = self.rate_limit
        if rate is None:
            self._bucket = None
            return None
        burst = max(1.0, self.rate_limit_burst)
        now = time.monotonic()
        held, then = self._bucket if self._bucket is not None else (burst, now)
        held = min(burst, held + (now - then) * rate)
        if held >= 1:
            self._bucket = (held - 1, now)
            return None
        self._bucket = (held, now)
        return (1 - held) / rate

    async def _serve(self, request: web.Request, route: RouteName) -> web.StreamResponse:
        page_index: int | None = None
        if route == "list":
            parsed = _int_param(request.query, "pageIndex", 0, 0)
            page_index = parsed if isinstance(parsed, int) else None
        if route == "token":
            authorized = await self._client_id(request) is not None
        elif route == "authorize":
            authorized = request.query.get("client_id", "") in self._client_secrets
        else:
            authorized = self._bearer_accepted(request)
        entry = _LogEntry(
            method=request.method,
            path=request.path,
            query=dict(request.query.items()),
            route=route,
            page_index=page_index,
            authorized=authorized,
        )
        self._log.append(entry)
        wait = self._rate_limit_wait() if route in API_ROUTES else None
        if wait is not None:
            retry_after = {"Retry-After": _retry_after_header(math.ceil(wait * 1000) / 1000)}
            return await self._send(request, _error_reply(429, None, **retry_after), entry)
        fault = self._take_fault(route, page_index) if route != "other" else None
        try:
            return await self._answer(request, route, authorized, fault, entry)
        except asyncio.CancelledError:
            # The client hung up (aiohttp then cancels the handler) or the server stops.
            if entry.status == 0:
                entry.status = -1
            raise

    async def _answer(
        self,
        request: web.Request,
        route: RouteName,
        authorized: bool,
        fault: Fault | None,
        entry: _LogEntry,
    ) -> web.StreamResponse:
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            fault = None
        if fault is None:
            return await self._send(request, await self._build(request, route, authorized), entry)
        if fault.kind == "status":
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = _retry_after_header(fault.retry_after)
            return await self._send(
                request, _error_reply(fault.status_code, fault.message, **headers), entry
            )
        if fault.kind == "body":
            reply = _Reply(fault.status_code, fault.raw, content_type=fault.content_type)
            return await self._send(request, reply, entry)
        if fault.kind == "drop" and not fault.mid_body:
            entry.status = -1
            _cut_connection(request)
            return web.Response()  # never sent: aiohttp finds the connection closed
        return await self._send_broken(
            request, await self._build(request, route, authorized), fault, entry
        )

    async def _send(
        self, request: web.Request, reply: _Reply, entry: _LogEntry
    ) -> web.StreamResponse:
        headers = {**reply.headers, "Content-Type": reply.content_type}
        if reply.chunks is None:
            entry.status = reply.status
            return web.Response(status=reply.status, body=reply.body, headers=headers)
        response = web.StreamResponse(status=reply.status, headers=headers)
        chunks = reply.chunks
        try:
            await response.prepare(request)
            entry.status = reply.status
            for chunk in chunks:
                await response.write(chunk)
            await response.write_eof()
        except ConnectionError:
            pass  # the client hung up mid-body; aiohttp finishes the request quietly
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return response

    async def _send_broken(
        self, request: web.Request, reply: _Reply, fault: Fault, entry: _LogEntry
    ) -> web.StreamResponse:
        """Headers with the full Content-Length and half the body, then drop or stall."""
        body = reply.materialize()
        cut = len(body) // 2
        response = web.StreamResponse(
            status=reply.status, headers={**reply.headers, "Content-Type": reply.content_type}
        )
        response.content_length = len(body)
        try:
            await response.prepare(request)
            if fault.kind == "drop":
                entry.status = -1
                if cut:
                    await response.write(body[:cut])
                _cut_connection(request)
                return response
            entry.status = reply.status
            if cut:
                await response.write(body[:cut])
            await asyncio.sleep(fault.seconds)
            await response.write(body[cut:])
            await response.write_eof()
        except ConnectionError:
            pass
        return response


def _cut_connection(request: web.BaseRequest) -> None:
    # close(), not abort(): buffered bytes go out, then a FIN, which aiohttp's client
    # reports as ServerDisconnectedError (no headers yet) or ClientPayloadError (mid-body).
    transport = request.transport
    if transport is not None:
        transport.close()


# -- server --------------------------------------------------------------------------------


class FakeServer:
    """Runs a :class:`FakeService` on a real TCP socket.

    ``port=0`` picks a free port; :attr:`url` tells which. Handlers of requests whose
    client hung up are cancelled (so a ``delay`` fault does not outlive its client), and
    closing waits at most ``shutdown_timeout`` seconds for requests still in flight.
    With ``ssl`` (a server-side :class:`ssl.SSLContext`, e.g. from a ``trustme`` test CA)
    it serves HTTPS and :attr:`url` starts with ``https://``.

    Example::

        async with FakeServer(FakeService(invoice_count=10)) as server:
            async with MyReportsClient("test-token", base_url=server.url) as client:
                invoice = await client.get_invoice(server.service.invoice_id(0))

    or, without ``async with``::

        server = FakeServer(service)
        await server.start()
        try:
            ...
        finally:
            await server.close()
    """

    def __init__(
        self,
        service: FakeService,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        shutdown_timeout: float = 1.0,
        ssl: ssl.SSLContext | None = None,
    ) -> None:
        self.service = service
        self.ssl = ssl
        self.host = host
        self._requested_port = port
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "not started"
        return f"<FakeServer {where}>"

    @property
    def port(self) -> int:
        """The TCP port the server listens on (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("the FakeServer is not started")
        return self._port

    @property
    def url(self) -> str:
        """The API base URL, e.g. ``"http://127.0.0.1:41234"``: the client's ``base_url``.

        ``https://`` when the server was given an ``ssl`` context.
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.ssl is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def token_url(self) -> str:
        """The OAuth2 token endpoint: ``url + "/connect/token"``."""
        return self.url + "/connect/token"

    async def start(self) -> FakeServer:
        """Bind the socket and start serving; returns the server itself."""
        if self._runner is not None:
            raise RuntimeError("the FakeServer is already started")
        runner = web.AppRunner(
            self.service.app,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=self._shutdown_timeout,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._requested_port, ssl_context=self.ssl)
            await site.start()
            address = runner.addresses[0]
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(address[1])
        return self

    async def close(self) -> None:
        """Stop serving and close every connection. Safe to call twice."""
        runner, self._runner = self._runner, None
        self._port = None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
