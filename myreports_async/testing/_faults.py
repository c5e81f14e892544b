"""Scripted faults and the request log of the fake service.

A :class:`Fault` says what goes wrong with one answer; :meth:`FakeService.inject` says
which requests it hits and how many times. A :class:`RecordedRequest` is what the fake
remembers of each request it received: never the token, and of a body only its JSON
with secret fields redacted.

Fault kinds (what the client sees):

=========================  ==============================================================
``Fault.status(503)``      the documented JSON error body with that status
``Fault.drop()``           headers with the full Content-Length, half the body, then the
                           TCP connection is closed (aiohttp: ``ClientPayloadError``)
``Fault.drop(mid_body=F)`` the connection is closed before any byte is sent
                           (aiohttp: ``ServerDisconnectedError``, but see below)
``Fault.delay(s)``         nothing for ``s`` seconds, then the normal answer
``Fault.stall(s)``         headers and half the body, ``s`` seconds of silence, the rest
``Fault.body(raw)``        exactly these bytes as the body (invalid JSON, wrong shapes)
=========================  ==============================================================

``Fault.drop(mid_body=False, after_applying=True)`` cuts the same way, but after the route
has carried the request out: a write applied whose answer is lost.

Rule: aiohttp's ``ClientSession`` itself repeats an idempotent request (GET, and DELETE
too) once, silently, when the connection is closed before the response headers; it never
repeats a POST or a PATCH. One ``Fault.drop(mid_body=False)`` is therefore invisible to a
GET; inject it with ``times=2`` to make the GET fail. After one
``drop(mid_body=False, after_applying=True)`` of a DELETE, aiohttp's own second attempt
meets the 404 of the record the first one removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

import attrs

__all__ = [
    "API_ROUTES",
    "LISTING_ROUTES",
    "ROUTES",
    "Fault",
    "FaultKind",
    "RecordedRequest",
    "RouteName",
    "route_group",
]

RouteName = Literal[
    "list",
    "invoice",
    "detail",
    "summary",
    "accounts",
    "account_users",
    "customers",
    "customer_users",
    "pbxs",
    "pbx_instances",
    "token",
    "authorize",
    "other",
]
"""Which endpoint a request hit; ``"other"`` is any path the service does not serve.

The billing routes: ``"list"`` (``GET /api/v1.0/billingdata``), ``"invoice"``,
``"detail"``, ``"summary"``. The Enterprise resources, each name covering every path and
method of its group: ``"accounts"`` (``/accounts``, ``/accounts/{id}``,
``/accounts/{id}/metrics``), ``"account_users"`` (``/accounts/{id}/users...``, including
``sendActivationEmail``), ``"customers"``, ``"customer_users"``, ``"pbxs"`` (a customer's
PBX connections) and ``"pbx_instances"`` (``GET /api/v1.0/pbxs?instanceId=``). The OAuth
endpoints: ``"token"``, ``"authorize"``.
"""

FaultKind = Literal["status", "drop", "delay", "stall", "body"]

ROUTES: frozenset[str] = frozenset(get_args(RouteName))
API_ROUTES: frozenset[str] = ROUTES - {"token", "authorize", "other"}
"""The routes that need a bearer token; a fault injected with ``route=None`` hits these."""
LISTING_ROUTES: frozenset[str] = frozenset(
    {"list", "accounts", "account_users", "customers", "customer_users", "pbxs"}
)
"""The routes with a paged listing: their ``GET`` of the collection logs its ``pageIndex``."""


def route_group(name: str | None) -> str | None:
    """The :data:`RouteName` of an aiohttp route name: ``"accounts:one"`` -> ``"accounts"``.

    aiohttp wants a distinct name per path, and one group covers several paths: the
    collection's path is named after the group, the others add ``:`` and a suffix.
    """
    return None if name is None else name.partition(":")[0]


def _check_seconds(seconds: float) -> float:
    if not seconds >= 0:  # also refuses NaN
        raise ValueError(f"seconds must be >= 0, got {seconds!r}")
    return float(seconds)


@attrs.frozen
class Fault:
    """What goes wrong with one answer of the fake service.

    Build one with the class methods, then hand it to :meth:`FakeService.inject`::

        service.inject(Fault.status(429, retry_after=0.01), route="list", page_index=2)
        service.inject(Fault.drop(), route="detail", times=2)
        service.inject(Fault.delay(0.5))  # the next API request of any route
    """

    kind: FaultKind
    status_code: int = 200
    retry_after: float | str | None = None
    message: str | None = None
    mid_body: bool = True
    after_applying: bool = False
    seconds: float = 0.0
    raw: bytes = b""
    content_type: str = "application/json"

    @classmethod
    def status(
        cls,
        code: int,
        *,
        retry_after: float | str | None = None,
        message: str | None = None,
    ) -> Fault:
        """Answer ``code`` with the service's error body.

        The body is ``{"error": code, "message": message, "status": "error",
        "timestamp": ...}``; ``message`` defaults to the HTTP reason phrase. A number
        ``retry_after`` is sent as ``Retry-After`` in seconds (fractions are kept, which
        real servers never send but fast tests like), a string is sent as given (an HTTP
        date, or garbage to test the client's parser).

        Example::

            service.inject(Fault.status(503, retry_after=0.01), times=3)
        """
        if not 100 <= code <= 599:
            raise ValueError(f"not an HTTP status code: {code!r}")
        return cls("status", status_code=code, retry_after=retry_after, message=message)

    @classmethod
    def drop(cls, *, mid_body: bool = True, after_applying: bool = False) -> Fault:
        """Cut the TCP connection.

        With ``mid_body`` (the default) the status line, the headers with the full
        ``Content-Length`` and about half the body are sent first, so aiohttp raises
        ``ClientPayloadError`` while reading; without it the connection is closed before
        anything is sent, so aiohttp raises ``ServerDisconnectedError``. The request is
        logged with status ``-1``.

        aiohttp's session repeats a GET (or a DELETE, never a POST or a PATCH) once by
        itself after a disconnect before the headers, so a GET fails only after two such
        drops (``times=2``); both show in the request log.

        With ``after_applying``, the route first carries the request out (a create or a
        patch is applied to the state), and only then is the connection cut before any
        byte of the answer: the write happened, the client cannot know it. A mid-body
        drop always runs the route first (it needs the answer to send half of it).

        Example::

            service.inject(Fault.drop(mid_body=False), route="invoice")
            service.inject(
                Fault.drop(mid_body=False, after_applying=True), route="customers", method="POST"
            )
        """
        return cls("drop", mid_body=mid_body, after_applying=after_applying)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before any byte of the answer, then answer normally.

        Use it with a small read timeout to test timeouts. If the client hangs up while
        the fake waits, the wait is cancelled and the request is logged with status -1.

        Example::

            service.inject(Fault.delay(1.0), route="list")  # client timeout 0.05 s
        """
        return cls("delay", seconds=_check_seconds(seconds))

    @classmethod
    def stall(cls, seconds: float) -> Fault:
        """Send the headers and about half the body, go silent for ``seconds``, then the rest.

        A read timeout shorter than ``seconds`` fires in the middle of the body.

        Example::

            service.inject(Fault.stall(1.0), route="summary")
        """
        return cls("stall", seconds=_check_seconds(seconds))

    @classmethod
    def body(
        cls, raw: bytes, *, status: int = 200, content_type: str = "application/json"
    ) -> Fault:
        """Answer exactly ``raw`` with ``status`` and ``content_type``.

        Example::

            service.inject(Fault.body(b'{"data": [', status=200), route="list")
        """
        if not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status code: {status!r}")
        return cls("body", status_code=status, raw=bytes(raw), content_type=content_type)


@attrs.frozen
class RecordedRequest:
    """One request the fake service received, as :attr:`FakeService.requests` lists it.

    ``query`` holds the query parameters as sent (the last value of a repeated name);
    ``page_index`` is the ``pageIndex`` of a list request when it is a valid integer
    (``0`` when absent), else ``None``. ``status`` is what was answered: ``-1`` when the
    connection was dropped (by a fault, or by the client hanging up before the answer),
    ``0`` while the answer is still being worked on. ``authorized`` tells whether the
    request carried an accepted bearer token (for ``route="token"``: valid client
    credentials; for ``route="authorize"``: a registered ``client_id``). The token itself
    is never recorded. ``page_index`` is also set for the ``GET`` of the Enterprise
    listings (``"accounts"``, ``"customers"``, the users' and PBX connections' routes).

    ``accept_charges`` tells whether the request carried ``accept-charges: true``;
    ``json`` is the parsed JSON body of a ``POST`` or ``PATCH`` to an API route (``None``
    otherwise, or when the body is not JSON), with the values of secret fields
    (``apiKey``, ``licenseKey``) replaced by ``"<redacted>"``: the log keeps no secret.

    Example::

        assert [r.page_index for r in service.list_requests()] == [0, 1, 2]
        assert all(r.authorized for r in service.requests)
    """

    method: str
    path: str
    query: Mapping[str, str]
    route: RouteName
    page_index: int | None
    status: int
    authorized: bool
    accept_charges: bool = False
    json: object | None = None
