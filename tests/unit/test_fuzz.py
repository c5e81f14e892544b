"""Property tests: arbitrary bodies, headers, statuses and page scripts at every layer
that reads the service's answers.

Rule: every outcome is valid records or one of the contract's exceptions
(``MyReportsError`` subclasses); never a ``KeyError``, ``TypeError``, ``AttributeError``
or a hang. Example counts scale with ``HYPOTHESIS_PROFILE`` (``nox -s fuzz``: ``soak``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from myreports_async import (
    APIError,
    DecodeError,
    Invoice,
    InvoiceDetail,
    MyReportsClient,
    MyReportsError,
    Page,
    RateLimitError,
    RetryPolicy,
    ServerError,
)
from myreports_async._codec import (
    _INVOICE,
    JSON_ERRORS,
    decode_invoice,
    decode_invoice_detail,
    decode_invoice_page,
    error_message,
    parse_json,
)
from myreports_async._paginate import read_ahead_pages
from myreports_async._protocol import (
    build_api_error,
    error_class_for_status,
    parse_retry_after,
)
from myreports_async._values import _InvalidValue
from myreports_async.testing import FakeServer, FakeService, Fault

from ..conftest import fuzz_examples

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
T = TypeVar("T")

# -- strategies -----------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "2020-01-31T23:59:59.999+00:00",
            "2019-05-01T10:00:00.2890319Z",
            "2020-04-01T00:00:00.0000000",
            "not a date",
            "17.50",
            "",
        ]
    )
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=5,
)

INVOICE_KEYS = [
    "invoiceid",
    "invoiceId",
    "tenantId",
    "invoiceNumber",
    "customerName",
    "billingPeriodStart",
    "billingPeriodEnd",
    "invoiceValue",
]
ITEM_KEYS = [
    "id",
    "quantity",
    "value",
    "fromDate",
    "toDate",
    "calculationOrder",
    "operatorUsed",
    "operatorValueUsed",
    "productTagName",
    "billingOutputTags",
    "stringValues",
    "numericValues",
]
DETAIL_KEYS = [
    *INVOICE_KEYS,
    "accountName",
    "invoiceDate",
    "invoiceItems",
]

# Invoice-shaped objects: the documented keys (and some others) with arbitrary values.
invoices = st.dictionaries(st.sampled_from([*INVOICE_KEYS, "extra"]), json_scalars) | json_values
items = st.dictionaries(st.sampled_from(ITEM_KEYS), json_scalars | json_values)
details = st.dictionaries(
    st.sampled_from(DETAIL_KEYS),
    json_scalars | st.lists(items, max_size=3),
)
envelopes = st.dictionaries(
    st.sampled_from(["page_size", "page_index", "data", "status", "timestamp", "message"]),
    json_scalars | st.lists(invoices, max_size=4) | invoices,
)


def as_bytes(value: Any) -> bytes:
    try:
        return msgspec.json.encode(value)
    except (TypeError, OverflowError, msgspec.EncodeError):  # integers beyond 64 bits
        return repr(value).encode()


bodies = st.one_of(
    st.binary(max_size=200),
    envelopes.map(as_bytes),
    json_values.map(as_bytes),
    details.map(as_bytes),
)

# -- codec ------------------------------------------------------------------------------------


@settings(max_examples=fuzz_examples(500))
@given(bodies)
def test_page_decoding_gives_a_page_or_a_decode_error(body: bytes) -> None:
    try:
        page = decode_invoice_page(body, index=3, url="https://x/y")
    except MyReportsError:
        return
    assert isinstance(page, Page)
    assert page.index == 3
    for invoice in page.items:
        assert isinstance(invoice, Invoice)
        assert isinstance(invoice.invoice_id, str)
        assert invoice.invoice_value is None or isinstance(invoice.invoice_value, Decimal)


@settings(max_examples=fuzz_examples(400))
@given(st.one_of(bodies, st.fixed_dictionaries({"data": invoices}).map(as_bytes)))
def test_invoice_decoding_gives_an_invoice_or_a_decode_error(body: bytes) -> None:
    try:
        invoice = decode_invoice(body)
    except MyReportsError:
        return
    assert isinstance(invoice, Invoice)


@settings(max_examples=fuzz_examples(400))
@given(st.one_of(bodies, details.map(as_bytes)))
def test_detail_decoding_gives_a_detail_or_a_decode_error(body: bytes) -> None:
    try:
        detail = decode_invoice_detail(body)
    except MyReportsError:
        return
    assert isinstance(detail, InvoiceDetail)


@settings(max_examples=fuzz_examples(400))
@given(st.lists(invoices, max_size=4))
def test_typed_page_route_agrees_with_the_field_by_field_reading(data: list[Any]) -> None:
    # The two routes derived from one table: msgspec's typed decode with the generated
    # loop, and the hooks read field by field. Same records, or both refuse.
    body = as_bytes({"data": data})
    try:
        expected: object = _INVOICE.structure_list(parse_json(body)["data"])
    except (_InvalidValue, *JSON_ERRORS):  # (not JSON: integers beyond 64 bits, see as_bytes)
        expected = DecodeError
    try:
        got: object = decode_invoice_page(body, index=0).items
    except DecodeError:
        got = DecodeError
    assert got == expected
    if isinstance(got, tuple) and isinstance(expected, tuple):
        assert [str(i.invoice_value) for i in got] == [str(i.invoice_value) for i in expected]


@settings(max_examples=fuzz_examples(200))
@given(bodies)
def test_error_message_never_raises(body: bytes) -> None:
    message = error_message(body)
    assert message is None or (isinstance(message, str) and message.strip())


# -- protocol ---------------------------------------------------------------------------------

retry_after_values = st.one_of(
    st.text(max_size=40),
    st.floats().map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.datetimes(timezones=st.just(timezone.utc)).map(
        lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")
    ),
)


@settings(max_examples=fuzz_examples(500))
@given(retry_after_values)
def test_parse_retry_after_is_none_or_a_non_negative_number(value: str) -> None:
    seconds = parse_retry_after(value, now=NOW)
    assert seconds is None or (isinstance(seconds, float) and seconds >= 0)


@settings(max_examples=fuzz_examples(200))
@given(st.integers(min_value=400, max_value=599), st.text(max_size=50), st.none() | st.floats())
def test_every_error_status_maps_to_an_api_error(
    status: int, message: str, retry_after: float | None
) -> None:
    error = build_api_error(status, message, url="https://x/y", retry_after=retry_after)
    assert isinstance(error, error_class_for_status(status))
    assert isinstance(error, APIError)
    assert error.status == status
    assert str(error)
    assert repr(error)


def run_to_outcome(coro: Coroutine[Any, Any, T], *, timeout_s: float) -> T | MyReportsError:
    """The result, or the contract error it raised; anything else (or a hang) fails."""
    try:
        return asyncio.run(asyncio.wait_for(coro, timeout_s))
    except MyReportsError as exc:
        return exc


# -- session error handling (aioresponses: any status, body and Retry-After) ------------------

BASE = "https://api.na.myreports.cloud"
INVOICE_URL = re.compile(re.escape(BASE) + r"/api/v1\.0/billingdata/abc.*")
NO_WAIT = RetryPolicy(max_attempts=2, initial_backoff=0, max_backoff=0, max_retry_after=0.001)


async def _get_with_mock(status: int, body: bytes, headers: dict[str, str]) -> object:
    from aioresponses import aioresponses

    with aioresponses() as mocked:
        mocked.get(INVOICE_URL, status=status, body=body, headers=headers, repeat=True)
        async with MyReportsClient("secret-token", retry=NO_WAIT) as client:
            return await client.get_invoice("abc")


@settings(max_examples=fuzz_examples(150))
@given(
    status=st.integers(min_value=200, max_value=599).filter(lambda s: not 300 <= s < 400),
    body=bodies,
    retry_after=st.none() | retry_after_values.filter(lambda v: "\n" not in v and "\r" not in v),
)
def test_any_answer_gives_an_invoice_or_a_contract_error(
    status: int, body: bytes, retry_after: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    outcome = run_to_outcome(_get_with_mock(status, body, headers), timeout_s=5)
    if isinstance(outcome, MyReportsError):
        assert "secret-token" not in f"{outcome} {outcome!r}"
        if status >= 400:
            assert isinstance(outcome, APIError)
    else:
        assert 200 <= status < 300
        assert isinstance(outcome, Invoice)


# -- the real socket: raw bodies and statuses through the fake service ------------------------


async def _list_through_fake(fault: Fault) -> list[Invoice]:
    service = FakeService(5, seed=1)
    service.inject(fault, route="list", times=None)
    async with (
        FakeServer(service) as server,
        MyReportsClient("test-token", base_url=server.url, retry=NO_WAIT, timeout=2) as client,
    ):
        return [invoice async for invoice in client.iter_invoices(prefetch=2)]


@settings(max_examples=fuzz_examples(40))
@given(st.integers(min_value=200, max_value=599).filter(lambda s: not 300 <= s < 400), bodies)
def test_any_raw_list_answer_over_a_socket_gives_invoices_or_a_contract_error(
    status: int, body: bytes
) -> None:
    outcome = run_to_outcome(_list_through_fake(Fault.body(body, status=status)), timeout_s=10)
    if isinstance(outcome, MyReportsError):
        if status == 429 or status >= 500:
            assert isinstance(outcome, (RateLimitError, ServerError))
    else:
        assert isinstance(outcome, list)
        assert all(isinstance(invoice, Invoice) for invoice in outcome)


# -- the paginator: arbitrary page lengths, failures and timing -------------------------------


def _as_is(index: int, page: Page[int]) -> Page[int]:
    """The scripted pages are already decoded."""
    return page


class ScriptedFailure(MyReportsError):
    """A page that failed after the session's retries."""


@st.composite
def page_scripts(draw: st.DrawFn) -> tuple[list[int], dict[int, str], int, int]:
    lengths = draw(st.lists(st.integers(min_value=0, max_value=12), max_size=12))
    failures = draw(
        st.dictionaries(
            st.integers(min_value=0, max_value=15),
            st.sampled_from(["raise", "raise-late"]),
            max_size=3,
        )
    )
    prefetch = draw(st.integers(min_value=1, max_value=6))
    start = draw(st.integers(min_value=0, max_value=3))
    return lengths, failures, prefetch, start


def expected_outcome(
    lengths: list[int], failures: dict[int, str], start: int
) -> tuple[list[int], int | None]:
    """(indexes of the pages yielded, index of the page that raises or None)."""
    yielded: list[int] = []
    largest = 0
    index = start
    while True:
        if index in failures:
            return yielded, index
        length = lengths[index] if index < len(lengths) else 0
        ends = length == 0 or length < largest
        largest = max(largest, length)
        if length:
            yielded.append(index)
        if ends:
            return yielded, None
        index += 1


@settings(max_examples=fuzz_examples(400))
@given(page_scripts())
def test_paginator_yields_the_exact_prefix_then_ends_or_raises(
    script: tuple[list[int], dict[int, str], int, int],
) -> None:
    lengths, failures, prefetch, start = script

    async def fetch(index: int) -> Page[int]:
        await asyncio.sleep(0)
        if index in failures:
            if failures[index] == "raise-late":
                await asyncio.sleep(0)
            raise ScriptedFailure(f"page {index}")
        length = lengths[index] if index < len(lengths) else 0
        return Page(index=index, items=tuple(range(length)), timestamp=None)

    async def consume() -> tuple[list[int], BaseException | None]:
        got: list[int] = []
        try:
            async for page in read_ahead_pages(fetch, _as_is, start_page=start, prefetch=prefetch):
                assert len(page.items) == lengths[page.index]
                got.append(page.index)
        except ScriptedFailure as exc:
            return got, exc
        return got, None

    async def main() -> tuple[list[int], BaseException | None]:
        before = asyncio.all_tasks()
        result = await asyncio.wait_for(consume(), 5)
        assert asyncio.all_tasks() == before  # every speculative request unwound
        return result

    got, error = asyncio.run(main())
    want, failing = expected_outcome(lengths, failures, start)
    assert got == want
    if failing is None:
        assert error is None
    else:
        assert str(error) == f"page {failing}"


@pytest.mark.parametrize("bad", [0, -1, 10_001])
def test_bad_paging_arguments_are_value_errors(bad: int) -> None:
    client = MyReportsClient("t")
    with pytest.raises(ValueError, match="page_size"):
        client.iter_invoices(page_size=bad)
