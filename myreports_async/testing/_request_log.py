"""The fake service's request log: what it remembers of each request, in arrival order.

The gateway appends an entry the moment a request arrives and fills in its status as the
answer goes out (see ``_gateway``); tests read frozen snapshots
(:class:`~._faults.RecordedRequest`).

Rules:

1. An entry never holds a token or a secret: only the method, path, query, route, page
   index, the verdict on the credentials, whether ``accept-charges: true`` was sent, the
   status, and the JSON body of an API write with its secret fields redacted (tests
   check what the client sent; the PBX keys stay out, as from any log).
2. ``status`` is 0 while the answer is being worked on, the HTTP status once its headers
   are on their way, and -1 when the connection was cut before that (by a fault, or by
   the client hanging up).
3. Clearing the log starts a new list: requests still in flight update their entries,
   which are no longer listed.
"""

from __future__ import annotations

from typing import Final

import attrs
from aiohttp import web

from ._faults import RecordedRequest, RouteName

__all__ = ["LOG_ENTRY", "REDACTED", "SECRET_FIELDS", "LogEntry", "RequestLog", "redacted"]

SECRET_FIELDS: Final = frozenset({"apikey", "licensekey"})
"""JSON names (lower case) whose values the log never keeps (rule 1)."""
REDACTED: Final = "<redacted>"


def redacted(value: object) -> object:
    """``value`` with every secret field's value replaced, also as a JSON Patch target."""
    if isinstance(value, list):
        return [redacted(item) for item in value]
    if not isinstance(value, dict):
        return value
    target = value.get("path")
    patches_secret = isinstance(target, str) and target.strip("/").lower() in SECRET_FIELDS
    return {
        key: REDACTED
        if str(key).lower() in SECRET_FIELDS or (patches_secret and key == "value")
        else redacted(item)
        for key, item in value.items()
    }


@attrs.define
class LogEntry:
    """One logged request; ``status`` changes while it is answered (rule 2)."""

    method: str
    path: str
    query: dict[str, str]
    route: RouteName
    page_index: int | None
    authorized: bool
    accept_charges: bool = False
    json: object | None = None
    status: int = 0

    def freeze(self) -> RecordedRequest:
        """A snapshot for tests."""
        return RecordedRequest(
            method=self.method,
            path=self.path,
            query=dict(self.query),
            route=self.route,
            page_index=self.page_index,
            status=self.status,
            authorized=self.authorized,
            accept_charges=self.accept_charges,
            json=self.json,
        )


LOG_ENTRY: Final = web.RequestKey("myreports_fake_log_entry", LogEntry)
"""The entry of the request being answered: the layers behind the log read and update it."""


class RequestLog:
    """The requests a fake service received, in arrival order."""

    def __init__(self) -> None:
        self._entries: list[LogEntry] = []

    def append(self, entry: LogEntry) -> None:
        """Log a request that just arrived."""
        self._entries.append(entry)

    def snapshot(self, route: RouteName | None = None) -> list[RecordedRequest]:
        """Every logged request (of ``route``, if given), frozen."""
        return [e.freeze() for e in self._entries if route is None or e.route == route]

    def clear(self) -> None:
        """Forget the logged requests (rule 3)."""
        self._entries = []
