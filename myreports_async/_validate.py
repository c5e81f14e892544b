"""Checks of what callers hand in, in one place: URLs, ids, secrets, options, limits.

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (a value the
service or the client cannot use) naming the argument, before any request is sent.

Rule 1 (where credentials may go): a URL that will receive a token, a client secret or
        a refresh token is ``https://``, or ``http://`` only to a loopback host
        (127.0.0.0/8, ``::1``, ``localhost``), so no credential travels in clear text
        off this machine. It carries no user info and no fragment.
Rule 2 (ids): an id travels as exactly one percent-encoded path segment: never empty,
        no ``/``, ``\\``, ``?``, ``#``, ``..`` or control character.
Rule 3 (secrets): a token or secret is a non-blank string without line breaks or NUL,
        which would split or end a header.
Rule 4 (bounds): whatever sizes memory or work has an upper bound: page sizes
        1..10,000, ``prefetch`` 1..64 (each page in flight is a task and a buffered
        answer), byte limits at least 1.
"""

from __future__ import annotations

import ipaddress
import math
import ssl
import unicodedata
from typing import Final

from yarl import URL

__all__ = [
    "MAX_PAGE_SIZE",
    "MAX_PREFETCH",
    "MIN_PAGE_SIZE",
    "check_credential_url",
    "check_limit",
    "check_path_id",
    "check_secret",
    "check_timeout",
    "is_loopback_host",
    "validate_invoice_id",
    "validate_paging",
]

MIN_PAGE_SIZE: Final = 1
MAX_PAGE_SIZE: Final = 10_000
MAX_PREFETCH: Final = 64


# ---------------------------------------------------------------------------
# Rule 1


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


def check_credential_url(url: object, *, name: str, example: str, allow_query: bool = True) -> URL:
    """``url`` as a :class:`yarl.URL` if credentials may be sent to it (Rule 1).

    ``example`` is shown when the URL is not absolute; ``allow_query=False`` refuses a
    query too (a base URL that paths are appended to).
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"{name} must be a non-empty absolute URL")
    try:
        parsed = URL(url.strip())
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} is not a valid URL: {exc}") from None
    if not parsed.is_absolute() or not parsed.host:
        raise ValueError(f"{name} must be an absolute URL such as {example}")
    if parsed.user is not None or parsed.password is not None:
        raise ValueError(f"{name} must not carry credentials")
    if parsed.fragment or (parsed.query_string and not allow_query):
        raise ValueError(
            f"{name} must not carry a fragment"
            if allow_query
            else f"{name} must not carry a query or fragment"
        )
    scheme = parsed.scheme.lower()
    if scheme == "http":
        if not is_loopback_host(parsed.host):
            raise ValueError(
                f"{name} must use https:// (http:// is allowed only for a loopback host "
                "such as 127.0.0.1 or localhost, so credentials never travel in clear text)"
            )
    elif scheme != "https":
        raise ValueError(f"{name} scheme must be https, not {parsed.scheme!r}")
    return parsed


# ---------------------------------------------------------------------------
# Rules 2 and 3


def check_path_id(value: object, *, name: str) -> str:
    """``value`` if it is usable as one path segment (Rule 2)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value or not value.strip():
        raise ValueError(f"{name} must not be empty")
    if any(ch in value for ch in "/?#\\") or ".." in value:
        raise ValueError(f"{name} {value!r} must not contain '/', '\\', '?', '#' or '..'")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError(f"{name} must not contain control characters")
    return value


def validate_invoice_id(invoice_id: object) -> str:
    """``invoice_id`` if it is usable as one path segment, else ``ValueError``."""
    return check_path_id(invoice_id, name="invoice_id")


def check_secret(value: object, *, name: str) -> str:
    """``value`` if it can travel as a token or secret (Rule 3); returned unchanged."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    if any(ch in value for ch in "\r\n\x00"):
        raise ValueError(f"{name} must not contain line breaks or NUL")
    return value


# ---------------------------------------------------------------------------
# Rule 4 and the connection options


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


def check_limit(name: str, value: object) -> int:
    """A size limit in bytes: a positive int."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int (bytes)")
    if value < 1:
        raise ValueError(f"{name} must be at least 1 byte, not {value!r}")
    return value


def check_timeout(timeout: object) -> float:
    """A timeout in seconds: a positive, finite number."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError("timeout must be a number of seconds")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return float(timeout)


def check_ssl_context(value: object) -> None:
    """``None`` or an :class:`ssl.SSLContext`."""
    if value is not None and not isinstance(value, ssl.SSLContext):
        raise TypeError("ssl must be an ssl.SSLContext or None")
