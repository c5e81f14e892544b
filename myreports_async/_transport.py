"""aiohttp at the edge: which of its errors are final, how to describe them without
leaking request headers, and how to read a body within limits or stream it to a sink.

Shared by the API session and the token endpoint, so both translate aiohttp's
exceptions the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

import aiohttp

__all__ = [
    "PERMANENT_CLIENT_ERRORS",
    "STREAM_CHUNK_SIZE",
    "body_length",
    "describe_client_error",
    "read_limited",
    "stream_body",
]

# aiohttp errors that say the request can never succeed as it stands: a certificate
# that does not verify, a URL or redirect that cannot be followed, a proxy refusing.
PERMANENT_CLIENT_ERRORS: Final = (
    aiohttp.ClientSSLError,
    aiohttp.ServerFingerprintMismatch,
    aiohttp.InvalidURL,
    aiohttp.RedirectClientError,
    aiohttp.NonHttpUrlClientError,
    aiohttp.ClientResponseError,
)


def describe_client_error(exc: BaseException) -> str:
    """A one-line account of a network failure that never carries request headers."""
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return "timed out waiting for data from the server"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "timed out connecting to the server"
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the connection was cut while the response body was being read"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection before answering"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS failure: {exc}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ClientResponseError):
        # Its str() is safe, but request_info holds our headers: never chain it.
        return f"{type(exc).__name__}: {exc.message or exc.status}"
    return f"{type(exc).__name__}: {exc}"


async def read_limited(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """Up to ``limit`` bytes of a body (the rest is left for the connection to discard)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await resp.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


#: Bytes asked of the connection at a time when a body is streamed to a sink.
STREAM_CHUNK_SIZE: Final = 64 * 1024


def body_length(resp: aiohttp.ClientResponse) -> int | None:
    """The number of body bytes the client will read, when the server said (``Content-Length``).

    ``None`` without the header, or when a content coding (gzip...) makes it count other
    bytes than the decoded ones the client reads.
    """
    coding = resp.headers.get("Content-Encoding", "").strip().lower()
    if coding not in ("", "identity"):
        return None
    return resp.content_length


async def stream_body(
    resp: aiohttp.ClientResponse,
    write: Callable[[bytes], object],
    *,
    chunk_size: int = STREAM_CHUNK_SIZE,
) -> int:
    """Hand a 2xx body to ``write`` chunk by chunk, never whole in memory; return its size.

    A body that ends short of its ``Content-Length`` raises ``ClientPayloadError``: to
    :meth:`ApiSession.request` that is the cut connection it is, retried like one.
    """
    expected = body_length(resp)
    received = 0
    async for chunk in resp.content.iter_chunked(chunk_size):
        received += len(chunk)
        write(chunk)
    if expected is not None and received != expected:
        raise aiohttp.ClientPayloadError(f"the body ended after {received} of its {expected} bytes")
    return received
