"""Answers in the fake service's formats, and the query parsing its rooms share.

Rules:

1. A handler returns its answer unsent (an :class:`aiohttp.web.Response`, or a
   :class:`ChunkedReply` for a long body). The gateway in front of the routes may still
   replace it, hold it back or cut it in half, as a real gateway relaying the service's
   answer would; aiohttp sends what comes out of the gateway.
2. JSON is sent as ``application/json; charset=utf-8``, files as
   ``application/octet-stream``, whatever aiohttp would guess.
3. Errors of the billing API carry the service's error body (``error``, ``message``,
   ``status``, ``timestamp``); errors of the OAuth endpoints carry RFC 6749's
   (``error``, ``error_description``) with ``Cache-Control: no-store``.
4. A value the client sent is echoed in an error message only cut short and printable,
   so a test log never fills with a megabyte of garbage or control characters.
"""

from __future__ import annotations

import http
import re
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
from aiohttp import web

from ._data import utc_timestamp

__all__ = [
    "BINARY",
    "JSON",
    "ChunkedReply",
    "body_bytes",
    "charges_accepted",
    "error_reply",
    "int_param",
    "json_reply",
    "oauth_error",
    "page_request",
    "reply",
    "retry_after_header",
    "shown",
    "unauthorized",
]

JSON = "application/json; charset=utf-8"
BINARY = "application/octet-stream"


def reply(
    status: int,
    body: bytes = b"",
    *,
    content_type: str = JSON,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """An answer with the whole body in memory; ``Content-Type`` exactly as given."""
    return web.Response(
        status=status, body=body, headers={**(headers or {}), "Content-Type": content_type}
    )


def json_reply(status: int, payload: Mapping[str, Any], **headers: str) -> web.Response:
    """``payload`` as the JSON body."""
    return reply(status, msgspec.json.encode(payload), headers=headers)


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_reply(status: int, message: str | None = None, **headers: str) -> web.Response:
    """The billing API's error body; ``message`` defaults to the status's reason phrase."""
    payload = {
        "error": status,
        "message": message if message is not None else _reason(status),
        "status": "error",
        "timestamp": utc_timestamp(),
    }
    return json_reply(status, payload, **headers)


def unauthorized() -> web.Response:
    """401 for a request without an accepted bearer token, as every API route answers it."""
    return error_reply(401, "Unauthorized", **{"WWW-Authenticate": "Bearer"})


def oauth_error(status: int, error: str, description: str, **headers: str) -> web.Response:
    """An OAuth error (RFC 6749 section 5.2): never cached."""
    payload = {"error": error, "error_description": description}
    return json_reply(status, payload, **{"Cache-Control": "no-store", **headers})


def retry_after_header(value: float | str) -> str:
    """A ``Retry-After`` value: a string as given, a number of seconds without ``.0``."""
    if isinstance(value, str):
        return value
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


class ChunkedReply(web.StreamResponse):
    """An answer whose body is made while it is sent (chunked transfer encoding).

    The chunks are not touched until aiohttp sends the answer, so a body of any size never
    sits in memory whole, and the gateway can still take it whole (:func:`body_bytes`) to
    cut or stall it. Whatever happens while sending, the chunk source is closed.
    """

    def __init__(
        self, chunks: Iterator[bytes], *, content_type: str, headers: Mapping[str, str]
    ) -> None:
        super().__init__(status=200, headers={**headers, "Content-Type": content_type})
        self.chunks = chunks

    async def write_eof(self, data: bytes = b"") -> None:
        """Send every chunk, then end the body (aiohttp calls it once the headers are out)."""
        chunks = self.chunks
        try:
            for chunk in chunks:
                await self.write(chunk)
        finally:
            # A client that hangs up mid-body raises ConnectionError here; aiohttp then
            # ends the request quietly. The generator is closed either way.
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        await super().write_eof(data)


def body_bytes(response: web.StreamResponse) -> bytes:
    """The whole body of an unsent answer (a :class:`ChunkedReply` is drained)."""
    if isinstance(response, ChunkedReply):
        chunks, response.chunks = response.chunks, iter(())
        return b"".join(chunks)
    if isinstance(response, web.Response) and not response.prepared:
        body = response.body
        if body is None:
            return b""
        if isinstance(body, (bytes, bytearray)):
            return bytes(body)
    raise TypeError(f"the body of {response!r} cannot be taken")


def shown(raw: str) -> str:
    """Echo of a client value in an error message: short and printable."""
    return "".join(c if c.isprintable() else "?" for c in raw[:64])


def int_param(query: Mapping[str, str], name: str, default: int, minimum: int) -> int | str:
    """The integer query parameter ``name``, or the error message for a bad one."""
    raw = query.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[+-]?[0-9]{1,18}", raw.strip()):
        return f"The value '{shown(raw)}' is not valid for {name}."
    value = int(raw)
    if value < minimum:
        return f"{name} must be {minimum} or greater."
    return value


def charges_accepted(headers: Mapping[str, str]) -> bool:
    """Whether a request carries ``accept-charges: true`` (case and spaces aside)."""
    return headers.get("accept-charges", "").strip().lower() == "true"


def page_request(
    query: Mapping[str, str], default_size: int, max_size: int | None
) -> tuple[int, int] | web.Response:
    """A listing's ``(pageIndex, pageSize)``, the size cut to ``max_size``; or the 400.

    ``pageIndex`` defaults to 0 and must be at least 0; ``pageSize`` must be at least 1.
    """
    page_index = int_param(query, "pageIndex", 0, 0)
    if isinstance(page_index, str):
        return error_reply(400, page_index)
    page_size = int_param(query, "pageSize", default_size, 1)
    if isinstance(page_size, str):
        return error_reply(400, page_size)
    return page_index, page_size if max_size is None else min(page_size, max_size)
