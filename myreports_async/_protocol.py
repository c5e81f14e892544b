"""The service's rules as pure functions: no I/O, no clocks of their own.

Rule 1: a token is only ever sent over TLS, or in clear text to a loopback host.
Rule 2: an invoice id travels as exactly one percent-encoded path segment.
Rule 3: a listing ends only when the server has shown there is nothing more
        (see :func:`page_ends_stream`).
Rule 4: the HTTP status alone picks the exception class (see ``_STATUS_ERRORS``).
"""

from __future__ import annotations

import ipaddress
import math
import unicodedata
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Final

from yarl import URL

from ._errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)

API_PREFIX: Final = "api/v1.0"
BILLING_RESOURCE: Final = "billingdata"

REGIONS: Final[Mapping[str, str]] = {
    "au": "https://api.au.myreports.cloud",
    "eu": "https://api.eu.myreports.cloud",
    "na": "https://api.na.myreports.cloud",
    "uk": "https://api.uk.myreports.cloud",
}

MIN_PAGE_SIZE: Final = 1
MAX_PAGE_SIZE: Final = 10_000
#: Pages in flight at once, at most: each is a task and a buffered answer, so an
#: unbounded read-ahead (prefetch=10**9) would exhaust memory before the first request.
MAX_PREFETCH: Final = 64


# ---------------------------------------------------------------------------
# Rule 1: where requests go


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and every address in 127.0.0.0/8 or ``::1``."""
    if not host:
        return False
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def resolve_base_url(region: str, base_url: str | None) -> URL:
    """The API root every request path hangs from (``{base}/api/v1.0``).

    Raises ``ValueError`` for an unknown region, a URL that is not absolute, or a URL
    that would carry the bearer token in clear text off the loopback host.
    """
    if base_url is None:
        if not isinstance(region, str) or region.lower() not in REGIONS:
            valid = ", ".join(sorted(REGIONS))
            raise ValueError(f"unknown region {region!r}: expected one of {valid}")
        url = URL(REGIONS[region.lower()])
    else:
        if not isinstance(base_url, str) or not base_url.strip():
            raise ValueError("base_url must be a non-empty absolute URL")
        try:
            url = URL(base_url.strip())
        except (ValueError, TypeError) as exc:
            raise ValueError(f"base_url is not a valid URL: {exc}") from None
        if not url.is_absolute() or not url.host:
            raise ValueError(
                "base_url must be an absolute URL such as https://api.eu.myreports.cloud"
            )
        if url.user is not None or url.password is not None:
            raise ValueError("base_url must not carry credentials")
        if url.query_string or url.fragment:
            raise ValueError("base_url must not carry a query or fragment")
        scheme = url.scheme.lower()
        if scheme == "http":
            if not is_loopback_host(url.host):
                raise ValueError(
                    "base_url must use https:// (http:// is allowed only for a loopback "
                    "host such as 127.0.0.1 or localhost, so the token never travels in "
                    "clear text)"
                )
        elif scheme != "https":
            raise ValueError(f"base_url scheme must be https, not {url.scheme!r}")
    path = url.path.rstrip("/")
    return url.with_path(f"{path}/{API_PREFIX}")


# ---------------------------------------------------------------------------
# Rule 2: ids


def validate_invoice_id(invoice_id: object) -> str:
    """Return ``invoice_id`` if it is usable as one path segment, else raise ``ValueError``."""
    if not isinstance(invoice_id, str):
        raise TypeError(f"invoice_id must be a str, not {type(invoice_id).__name__}")
    if not invoice_id or not invoice_id.strip():
        raise ValueError("invoice_id must not be empty")
    if any(ch in invoice_id for ch in "/?#\\") or ".." in invoice_id:
        raise ValueError(f"invoice_id {invoice_id!r} must not contain '/', '\\', '?', '#' or '..'")
    if any(unicodedata.category(ch) == "Cc" for ch in invoice_id):
        raise ValueError("invoice_id must not contain control characters")
    return invoice_id


def invoice_url(api_root: URL, invoice_id: str, *suffix: str) -> URL:
    """``{api_root}/billingdata/{id}[/suffix]`` with the id percent-encoded as one segment."""
    validate_invoice_id(invoice_id)
    url = api_root / BILLING_RESOURCE / invoice_id  # yarl encodes the segment
    for part in suffix:
        url = url / part
    return url


def billing_url(api_root: URL) -> URL:
    """The Get All billing data endpoint."""
    return api_root / BILLING_RESOURCE


# ---------------------------------------------------------------------------
# Rule 3: paging


def validate_paging(*, page_size: int, start_page: int, prefetch: int) -> None:
    """Raise ``ValueError`` (or ``TypeError``) for paging arguments the service cannot serve."""
    for name, value in (
        ("page_size", page_size),
        ("start_page", start_page),
        ("prefetch", prefetch),
    ):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(
            f"page_size must be between {MIN_PAGE_SIZE} and {MAX_PAGE_SIZE}, not {page_size}"
        )
    if start_page < 0:
        raise ValueError(f"start_page must be 0 or more, not {start_page}")
    if not 1 <= prefetch <= MAX_PREFETCH:
        raise ValueError(f"prefetch must be between 1 and {MAX_PREFETCH}, not {prefetch}")


def page_params(*, page_index: int, page_size: int) -> dict[str, str]:
    """The query of one page request."""
    return {"pageIndex": str(page_index), "pageSize": str(page_size)}


def page_ends_stream(page_length: int, largest_seen: int) -> bool:
    """Whether a page proves there is nothing after it.

    ``largest_seen`` is the longest page the server returned earlier in this stream (0 for
    the first page). An empty page ends the stream. So does a page shorter than one the
    server already returned: the server has shown it can send more than that. A page
    shorter than the *requested* size proves nothing by itself, since the server may cap
    the page size below what was asked.
    """
    return page_length == 0 or page_length < largest_seen


# ---------------------------------------------------------------------------
# Rule 4: statuses

_STATUS_ERRORS: Final[Mapping[int, type[APIError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def error_class_for_status(status: int) -> type[APIError]:
    """The exception class for an HTTP error status (4xx and 5xx)."""
    if status in _STATUS_ERRORS:
        return _STATUS_ERRORS[status]
    if status >= 500:
        return ServerError
    return BadRequestError


def build_api_error(
    status: int, message: str, *, url: str | None, retry_after: float | None = None
) -> APIError:
    """The exception for a final error answer."""
    cls = error_class_for_status(status)
    if cls is RateLimitError:
        return RateLimitError(message, status=status, url=url, retry_after=retry_after)
    return cls(message, status=status, url=url)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Returns ``None`` when the header is absent or unreadable, 0.0 for a date in the past.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isnan(seconds) or math.isinf(seconds):
            return None
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


def redact_url(url: URL) -> str:
    """The URL as shown in errors and logs: never with user info."""
    return str(url.with_user(None)) if url.user or url.password else str(url)
