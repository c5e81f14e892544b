"""The service's rules as pure functions: no I/O, no clocks of their own.

Rule 1: a token is only ever sent over TLS, or in clear text to a loopback host.
Rule 2: an invoice id travels as exactly one percent-encoded path segment.
Rule 3: a listing ends only when the server has shown there is nothing more
        (see :func:`page_ends_stream`).
Rule 4: the HTTP status alone picks the exception class (see ``_STATUS_ERRORS``).
"""

from __future__ import annotations

import math
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
from ._validate import check_credential_url, validate_invoice_id

API_PREFIX: Final = "api/v1.0"
BILLING_RESOURCE: Final = "billingdata"

REGIONS: Final[Mapping[str, str]] = {
    "au": "https://api.au.myreports.cloud",
    "eu": "https://api.eu.myreports.cloud",
    "na": "https://api.na.myreports.cloud",
    "uk": "https://api.uk.myreports.cloud",
}


# ---------------------------------------------------------------------------
# Rule 1: where requests go


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
        url = check_credential_url(
            base_url, name="base_url", example="https://api.eu.myreports.cloud", allow_query=False
        )
    path = url.path.rstrip("/")
    return url.with_path(f"{path}/{API_PREFIX}")


# ---------------------------------------------------------------------------
# Rule 2: ids


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
