"""aiohttp at the edge: which of its errors are final, how to describe them without
leaking request headers, and how to read a body within limits or stream it to a sink.

Shared by the API session and the token endpoint, so both translate aiohttp's
exceptions the same way.
"""

from __future__ import annotations

import asyncio
import base64
import urllib.request
from collections.abc import Callable
from typing import Final

import aiohttp
import attrs
from yarl import URL

from ._errors import TransportError
from ._retry import RetryPolicy
from ._validate import check_ssl_context, check_timeout, is_loopback_host

__all__ = [
    "PERMANENT_CLIENT_ERRORS",
    "STREAM_CHUNK_SIZE",
    "BodyTooLarge",
    "EnvironmentProxies",
    "TransportFailure",
    "body_length",
    "check_http_options",
    "describe_client_error",
    "never_sent",
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


def check_http_options(
    *,
    timeout: object,
    session: object = None,
    retry: object = None,
    ssl_context: object = None,
) -> float:
    """Check the connection options every HTTP-speaking object takes; return the timeout.

    Raises ``TypeError`` or ``ValueError`` naming the option, before any request.
    """
    seconds = check_timeout(timeout)
    if session is not None and not isinstance(session, aiohttp.ClientSession):
        raise TypeError("session must be an aiohttp.ClientSession or None")
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError("retry must be a RetryPolicy or None")
    check_ssl_context(ssl_context)
    return seconds


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
    if type(exc) is aiohttp.ClientResponseError:
        # Raised bare (not a subclass) only when aiohttp cannot parse the response head:
        # a header flood, an over-long status line or header, a malformed header.
        detail = exc.message if len(exc.message) <= 120 else exc.message[:117] + "..."
        return (
            "the server's response head is malformed or exceeds the client's limits "
            f"(8190 bytes per line, 128 headers): {detail}"
        )
    if isinstance(exc, aiohttp.ClientResponseError):
        # Its str() is safe, but request_info holds our headers: never chain it.
        return f"{type(exc).__name__}: {exc.message or exc.status}"
    return f"{type(exc).__name__}: {exc}"


def never_sent(exc: BaseException) -> bool:
    """Whether a failure came before the request left this machine, so the service cannot
    have acted on it: no connection could be made (refused, unreachable, a failed TLS
    handshake, a proxy that would not connect) or making one timed out.

    Anything else (a timeout waiting for the answer, a connection closed, reset or cut
    once it was in use) may come after the service received the request.
    """
    return isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError))


@attrs.frozen
class TransportFailure:
    """No usable answer: the connection failed, dropped or timed out.

    ``unsent``: the request never left (:func:`never_sent`), so a write was not applied.
    """

    description: str
    cause: BaseException
    transient: bool
    unsent: bool = False

    @classmethod
    def of(cls, exc: BaseException) -> TransportFailure:
        """An aiohttp error or timeout: what it says, whether a repeat may succeed, and
        whether the request can have reached the service."""
        permanent = isinstance(exc, PERMANENT_CLIENT_ERRORS)
        return cls(describe_client_error(exc), exc, transient=not permanent, unsent=never_sent(exc))

    def to_error(self, *, failed: int, url: str, what: str = "", note: str = "") -> TransportError:
        """The :class:`TransportError` to raise after ``failed`` attempts to ``url``.

        ``what`` prefixes the message (``"token request failed: "``), ``note`` ends it.
        The aiohttp error is kept as the cause, except a response error: its
        ``request_info`` holds the request's headers, the bearer token among them.
        """
        attempts = f" (after {failed} attempts)" if failed > 1 else ""
        error = TransportError(f"{what}{self.description}{attempts}: {url}{note}", url=url)
        if not isinstance(self.cause, aiohttp.ClientResponseError):
            error.__cause__ = self.cause
        error.__suppress_context__ = True
        return error


class BodyTooLarge(Exception):
    """A response body is (or says it will be) larger than the limit it is read with."""

    def __init__(self, limit: int, size: int | None) -> None:
        super().__init__(limit, size)
        self.limit = limit
        self.size = size


async def read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, or :class:`BodyTooLarge` once it is known to exceed ``limit`` bytes.

    ``Content-Length`` is checked before any byte is read; the count is enforced while
    reading too, so a chunked body that never ends (a trickle resets the read timeout
    with every byte) is stopped at the limit instead of exhausting memory.
    """
    declared = body_length(resp)
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit, declared)
    body = await read_limited(resp, limit + 1)
    if len(body) > limit:
        raise BodyTooLarge(limit, None)
    return body


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


class EnvironmentProxies:
    """The proxy for each origin from ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``.

    Read the way curl and requests read them (``urllib.request.getproxies_environment``
    and ``proxy_bypass_environment``), once per origin. A loopback host is always
    reached directly. Unlike aiohttp's ``trust_env=True``, this never reads ``~/.netrc``
    (whose credentials would clash with the bearer header) and costs no thread per
    request.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], tuple[URL | None, dict[str, str] | None]] = {}

    def for_url(self, url: URL) -> tuple[URL | None, dict[str, str] | None]:
        """``(proxy URL without credentials, proxy headers)``, or ``(None, None)``.

        Credentials in the proxy URL become a ``Proxy-Authorization`` header (aiohttp
        3.14 deprecates ``BasicAuth``).
        """
        host = url.host or ""
        key = (url.scheme, host)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._lookup(url.scheme, host)
        return found

    @staticmethod
    def _lookup(scheme: str, host: str) -> tuple[URL | None, dict[str, str] | None]:
        if not host or is_loopback_host(host):
            return None, None
        proxies = urllib.request.getproxies_environment()
        raw = proxies.get(scheme)
        # proxy_bypass_environment: stdlib since Python 2, missing from typeshed.
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        if not raw or bypass(host, proxies):
            return None, None
        try:
            proxy = URL(raw if "://" in raw else f"http://{raw}")
        except ValueError:
            return None, None
        headers = None
        if proxy.user is not None:
            pair = f"{proxy.user}:{proxy.password or ''}".encode()
            headers = {"Proxy-Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
            proxy = proxy.with_user(None)
        return proxy, headers
