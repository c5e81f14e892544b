"""The service's rules as pure functions."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from yarl import URL

from myreports_async import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from myreports_async._protocol import (
    build_api_error,
    error_class_for_status,
    invoice_url,
    page_ends_stream,
    parse_retry_after,
    resolve_base_url,
)
from myreports_async._validate import is_loopback_host, validate_invoice_id, validate_paging

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("au", "https://api.au.myreports.cloud/api/v1.0"),
        ("eu", "https://api.eu.myreports.cloud/api/v1.0"),
        ("NA", "https://api.na.myreports.cloud/api/v1.0"),
        ("Uk", "https://api.uk.myreports.cloud/api/v1.0"),
    ],
)
def test_regions_are_case_insensitive(region: str, expected: str) -> None:
    assert str(resolve_base_url(region, None)) == expected


def test_unknown_region_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown region 'us': expected one of au, eu, na, uk"):
        resolve_base_url("us", None)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v1.0"),
        ("http://127.3.4.5:8080/", "http://127.3.4.5:8080/api/v1.0"),
        ("http://localhost:9000/proxy/", "http://localhost:9000/proxy/api/v1.0"),
        ("http://[::1]:8080", "http://[::1]:8080/api/v1.0"),
        ("https://billing.example.com/prefix", "https://billing.example.com/prefix/api/v1.0"),
    ],
)
def test_base_url_overrides_region_with_optional_prefix(base_url: str, expected: str) -> None:
    assert str(resolve_base_url("na", base_url)) == expected


@pytest.mark.parametrize(
    "base_url",
    ["http://api.eu.myreports.cloud", "http://10.0.0.5:8080", "http://127.0.0.1.example.com"],
)
def test_plaintext_base_url_off_loopback_is_refused(base_url: str) -> None:
    with pytest.raises(ValueError, match="must use https://"):
        resolve_base_url("na", base_url)


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("ftp://127.0.0.1", "scheme must be https"),
        ("/relative/path", "absolute URL"),
        ("", "non-empty"),
        ("https://user:pw@api.example.com", "credentials"),
        ("https://api.example.com/?x=1", "query"),
    ],
)
def test_malformed_base_url_is_refused(base_url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_base_url("na", base_url)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("10.0.0.1", False),
        ("example.com", False),
        (None, False),
    ],
)
def test_loopback_hosts(host: str | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    "bad_id", ["", "   ", "a/b", "a?b", "a#b", "..", "a..b", "a\\b", "a\nb", "a\x00b", "a\x7fb"]
)
def test_bad_invoice_ids_are_refused(bad_id: str) -> None:
    with pytest.raises(ValueError, match="invoice_id"):
        validate_invoice_id(bad_id)


def test_invoice_id_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="invoice_id must be a str"):
        validate_invoice_id(12)


def test_invoice_id_is_one_percent_encoded_segment() -> None:
    root = URL("https://api.na.myreports.cloud/api/v1.0")
    url = invoice_url(root, "inv 1%;é", "detail")
    assert url.raw_path == "/api/v1.0/billingdata/inv%201%25;%C3%A9/detail"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"page_size": 0, "start_page": 0, "prefetch": 1}, "page_size must be between 1 and 10000"),
        ({"page_size": 10001, "start_page": 0, "prefetch": 1}, "page_size must be between"),
        ({"page_size": 10, "start_page": -1, "prefetch": 1}, "start_page must be 0 or more"),
        ({"page_size": 10, "start_page": 0, "prefetch": 0}, "prefetch must be between 1 and 64"),
        ({"page_size": 10, "start_page": 0, "prefetch": 65}, "prefetch must be between 1 and 64"),
        ({"page_size": 10, "start_page": 0, "prefetch": 10**9}, r"between 1 and 64, not 10+\b"),
    ],
)
def test_paging_arguments_are_checked(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_paging(**kwargs)


def test_paging_arguments_must_be_ints() -> None:
    with pytest.raises(TypeError, match="page_size must be an int"):
        validate_paging(page_size=True, start_page=0, prefetch=1)


@pytest.mark.parametrize(
    ("length", "largest_seen", "ends"),
    [
        (0, 0, True),  # empty collection
        (0, 100, True),  # exact multiple: the page after the last full one is empty
        (37, 0, False),  # a short FIRST page proves nothing: the server may cap the size
        (100, 100, False),
        (37, 100, True),  # shorter than a page the server already sent
        (150, 100, False),
    ],
)
def test_page_ends_stream(length: int, largest_seen: int, ends: bool) -> None:
    assert page_ends_stream(length, largest_seen) is ends


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, BadRequestError),
        (422, BadRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (599, ServerError),
    ],
)
def test_status_maps_to_exception_class(status: int, cls: type[Exception]) -> None:
    assert error_class_for_status(status) is cls


def test_api_error_carries_status_message_and_url() -> None:
    error = build_api_error(429, "Too Many Requests", url="https://x/api", retry_after=3.0)
    assert isinstance(error, RateLimitError)
    assert (error.status, error.message, error.url, error.retry_after) == (
        429,
        "Too Many Requests",
        "https://x/api",
        3.0,
    )
    assert str(error) == "HTTP 429: Too Many Requests (https://x/api)"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0.25", 0.25),
        ("-5", 0.0),
        ("soon", None),
        ("nan", None),
        ("Wed, 25 Nov 2026 12:00:30 GMT", 30.0),
        ("Wed, 25 Nov 2026 11:59:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds
