"""The service's rules as pure functions: no I/O, no clocks of their own.

Rule 1: a token is only ever sent over TLS, or in clear text to a loopback host.
Rule 2: an invoice id travels as exactly one percent-encoded path segment.
Rule 3: a listing ends only when the server has shown there is nothing more
        (see :func:`page_ends_stream`).
Rule 4: the HTTP status alone picks the exception class (see ``_STATUS_ERRORS``).
Rule 5: a secret never shows: a query parameter that carries one (``instanceId`` is a
        3CX licence key) is masked in the URL that logs and errors show, and so is a
        secret key (``apiKey``, ``licenseKey``) in a body the service echoes back (a
        402 echoes the request).
Rule 6: an Enterprise path is fixed words and ids in turn; each id is one checked,
        percent-encoded segment (as Rule 2), named after its argument in errors.
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
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from ._validate import check_credential_url, check_path_id, validate_invoice_id
from ._values import JSON_ERRORS, parse_json

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


def enterprise_url(api_root: URL, *parts: str | tuple[str, object]) -> URL:
    """An Enterprise path (Rule 6): a ``str`` part is a fixed word, a ``(name, id)`` part
    an id checked as argument ``name``, e.g.
    ``enterprise_url(root, "accounts", ("account_id", a), "users")``."""
    url = api_root
    for part in parts:
        if isinstance(part, tuple):
            name, value = part
            part = check_path_id(value, name=name)
        url = url / part  # yarl encodes the segment
    return url


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
    402: PaymentRequiredError,
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
    status: int,
    message: str,
    *,
    url: str | None,
    retry_after: float | None = None,
    body: bytes = b"",
) -> APIError:
    """The exception for a final error answer (``body``: what the answer carried)."""
    cls = error_class_for_status(status)
    if cls is RateLimitError:
        return RateLimitError(message, status=status, url=url, retry_after=retry_after)
    if cls is PaymentRequiredError:
        return PaymentRequiredError(
            f"{message}: the request may incur charges and was not carried out; "
            "repeat it with accept_charges=True to accept them",
            status=status,
            url=url,
            echoed=_echoed(body),
        )
    return cls(message, status=status, url=url)


def _echoed(body: bytes) -> object:
    """A 402's echo of the request, parsed, with its secrets masked (Rule 5)."""
    try:
        return mask_secrets(parse_json(body))
    except JSON_ERRORS:
        return None


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


# ---------------------------------------------------------------------------
# Rule 5: secrets

#: JSON keys whose values are secrets (a PBX's API key, a 3CX licence key).
SECRET_KEYS: Final = frozenset({"apiKey", "licenseKey", "password"})
#: Query parameters whose values may be secrets (the instance of a 3CX PBX is its licence key).
SECRET_QUERY_PARAMETERS: Final = frozenset({"instanceId"})
MASK: Final = "***"


def mask_secrets(value: object) -> object:
    """A parsed JSON value with the value of every :data:`SECRET_KEYS` key masked."""
    if isinstance(value, dict):
        return {
            key: MASK if key in SECRET_KEYS else mask_secrets(item) for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    return value


def redact_url(url: URL) -> str:
    """The URL as shown in errors and logs: never with user info or a secret parameter."""
    if url.user or url.password:
        url = url.with_user(None)
    if url.query_string and not SECRET_QUERY_PARAMETERS.isdisjoint(url.query):
        url = url.update_query({key: MASK for key in SECRET_QUERY_PARAMETERS if key in url.query})
    return str(url)
