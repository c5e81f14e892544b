"""The wire format: documented payloads in, records out; bad bodies out as DecodeError."""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from myreports_async import _values
from myreports_async._codec import (
    _INVOICE,
    _INVOICE_ITEM,
    _RecordCodec,
    decode_invoice,
    decode_invoice_detail,
    decode_invoice_page,
    error_message,
    json_keys,
    loads,
    parse_datetime,
    parse_json,
    structure_invoice,
    structure_invoice_item,
)
from myreports_async._errors import DecodeError
from myreports_async._models import Invoice, InvoiceDetail, InvoiceItem, _WeakRefSlot
from myreports_async._values import _ISO_DATETIME, _InvalidValue, _rewrite_for_python310
from tests.conftest import EXAMPLES

UTC = timezone.utc


def example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def invoice_json(**fields: Any) -> dict[str, Any]:
    """A valid list-payload invoice, with ``fields`` replacing or adding keys."""
    base: dict[str, Any] = {
        "tenantId": "tenant-1",
        "invoiceid": "inv-1",
        "invoiceNumber": "9000001",
        "customerName": "Reseller 1",
        "billingPeriodStart": "2020-01-01T00:00:00.000+00:00",
        "billingPeriodEnd": "2020-01-31T23:59:59.999+00:00",
        "invoiceValue": Decimal("200.0"),
    }
    base.update(fields)
    return base


# Decimals are written as JSON numbers with their digits, as the service writes them.
_ENCODER = msgspec.json.Encoder(decimal_format="number")


def encode(value: object) -> bytes:
    return _ENCODER.encode(value)


def page_body(*invoices: object, **envelope: Any) -> bytes:
    body: dict[str, Any] = {
        "page_size": len(invoices),
        "data": list(invoices),
        "status": "success",
        "timestamp": "2019-05-01T10:00:00.2890319Z",
    }
    body.update(envelope)
    return encode(body)


def detail_json() -> dict[str, Any]:
    parsed = parse_json(example("billingdata_invoice_detail.json"))
    assert isinstance(parsed, dict)
    return parsed


# --- the documented examples ---------------------------------------------------------


def test_documented_list_page_decodes_to_invoices_in_order() -> None:
    page = decode_invoice_page(example("billingdata_get_all.json"), index=0)

    assert page.index == 0
    assert page.timestamp == datetime(2019, 5, 1, 10, 0, 0, 289031, tzinfo=UTC)
    assert [i.billing_period_start for i in page.items] == [
        datetime(2020, month, 1, tzinfo=UTC) for month in (1, 2, 3, 4)
    ]
    assert page.items[0] == Invoice(
        invoice_id="{INVOICE_ID}",
        tenant_id="{RESELLER_TENANT_ID}",
        invoice_number="{INVOICE_NUMBER}",
        customer_name="Reseller 1",
        billing_period_start=datetime(2020, 1, 1, tzinfo=UTC),
        billing_period_end=datetime(2020, 1, 31, 23, 59, 59, 999000, tzinfo=UTC),
        invoice_value=Decimal("200.0"),
    )


def test_page_index_is_the_requested_index_not_the_body_field() -> None:
    page = decode_invoice_page(page_body(invoice_json(), page_index=0), index=7)

    assert page.index == 7


def test_page_without_timestamp_has_none() -> None:
    body = encode({"page_size": 1, "data": [invoice_json()]})

    assert decode_invoice_page(body, index=0).timestamp is None


def test_empty_page_has_no_items() -> None:
    assert decode_invoice_page(page_body(), index=3).items == ()


def test_documented_single_invoice_decodes() -> None:
    invoice = decode_invoice(example("billingdata_get_invoice.json"))

    assert invoice.invoice_id == "{INVOICE_ID}"
    assert invoice.customer_name == "Reseller 1"
    assert invoice.invoice_value == Decimal("0.0")
    assert invoice.billing_period_end == datetime(2020, 1, 31, 23, 59, 59, 999000, tzinfo=UTC)


def test_documented_invalid_list_body_raises_decode_error() -> None:
    with pytest.raises(DecodeError, match="not valid JSON") as info:
        decode_invoice_page(example("billingdata_get_all_as_documented.txt"), index=0)

    assert info.value.path is None


def test_decode_error_carries_the_url() -> None:
    with pytest.raises(DecodeError) as info:
        decode_invoice_page(b"<html>", index=0, url="https://api.na.myreports.cloud/x")

    assert info.value.url == "https://api.na.myreports.cloud/x"


# --- envelopes -----------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"[]", b'"data"', b"null", b"42"])
def test_page_body_that_is_not_an_object_raises(body: bytes) -> None:
    with pytest.raises(DecodeError, match="not a JSON object"):
        decode_invoice_page(body, index=0)


def test_page_without_data_raises_naming_data() -> None:
    with pytest.raises(DecodeError) as info:
        decode_invoice_page(b'{"page_size": 0, "status": "success"}', index=0)

    assert info.value.path == "data"
    assert "data: required field is missing" in str(info.value)


@pytest.mark.parametrize("data", [{}, None, "x", 1])
def test_page_data_that_is_not_a_list_raises(data: object) -> None:
    with pytest.raises(DecodeError, match="data: expected an array") as info:
        decode_invoice_page(encode({"data": data}), index=0)

    assert info.value.path == "data"


def test_page_bad_timestamp_raises_naming_timestamp() -> None:
    with pytest.raises(DecodeError) as info:
        decode_invoice_page(page_body(timestamp="yesterday"), index=0)

    assert info.value.path == "timestamp"


def test_single_invoice_data_that_is_not_an_object_raises() -> None:
    with pytest.raises(DecodeError) as info:
        decode_invoice(b'{"data": [], "status": "success"}')

    assert info.value.path == "data"
    assert str(info.value) == "data: expected an object, got array"


def test_single_invoice_missing_id_names_data_invoiceid() -> None:
    with pytest.raises(DecodeError) as info:
        decode_invoice(encode({"data": {"customerName": "x"}}))

    assert info.value.path == "data.invoiceid"


# --- field mapping -------------------------------------------------------------------


@pytest.mark.parametrize("key", ["invoiceid", "invoiceId"])
def test_both_spellings_of_the_invoice_id_are_accepted(key: str) -> None:
    invoice = structure_invoice({key: "abc"})

    assert invoice == Invoice(invoice_id="abc")


def test_page_of_invoices_spelled_invoiceId_decodes() -> None:
    first = {"invoiceId": "a", "invoiceValue": 1}
    second = {"invoiceId": "b"}

    page = decode_invoice_page(page_body(first, second), index=0)

    assert [i.invoice_id for i in page.items] == ["a", "b"]
    assert page.items[0].invoice_value == Decimal(1)


def test_list_spelling_wins_when_both_ids_are_present() -> None:
    assert structure_invoice({"invoiceid": "a", "invoiceId": "b"}).invoice_id == "a"


def test_unknown_keys_are_ignored() -> None:
    invoice = structure_invoice(invoice_json(currency="EUR", lines=[1, 2], nested={"a": None}))

    assert invoice.invoice_id == "inv-1"


def test_missing_optional_fields_are_none() -> None:
    assert structure_invoice({"invoiceid": "x"}) == Invoice(invoice_id="x")


def test_null_optional_fields_are_none() -> None:
    invoice = structure_invoice(
        invoice_json(
            tenantId=None,
            customerName=None,
            billingPeriodStart=None,
            invoiceValue=None,
        )
    )

    assert invoice.tenant_id is None
    assert invoice.customer_name is None
    assert invoice.billing_period_start is None
    assert invoice.invoice_value is None


# --- errors name the JSON path -------------------------------------------------------


def decode_error_for_page(*invoices: object) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode_invoice_page(page_body(*invoices), index=0)
    return info.value


def test_missing_invoiceid_names_its_path() -> None:
    bad = invoice_json()
    del bad["invoiceid"]

    error = decode_error_for_page(invoice_json(), bad)

    assert error.path == "data[1].invoiceid"
    assert str(error) == "data[1].invoiceid: required field is missing"


def test_string_invoice_value_names_its_path() -> None:
    error = decode_error_for_page(*[invoice_json()] * 3, invoice_json(invoiceValue="12.50"))

    assert error.path == "data[3].invoiceValue"
    assert str(error) == "data[3].invoiceValue: expected a number, got string"


def test_boolean_invoice_value_is_a_wrong_type() -> None:
    error = decode_error_for_page(invoice_json(invoiceValue=True))

    assert error.path == "data[0].invoiceValue"
    assert "expected a number, got boolean" in str(error)


def test_number_customer_name_is_not_turned_into_a_string() -> None:
    error = decode_error_for_page(invoice_json(customerName=123))

    assert error.path == "data[0].customerName"
    assert str(error) == "data[0].customerName: expected a string, got number"


def test_null_invoice_id_is_not_turned_into_a_string() -> None:
    error = decode_error_for_page(invoice_json(invoiceid=None))

    assert error.path == "data[0].invoiceid"
    assert str(error) == "data[0].invoiceid: expected a string, got null"


def test_null_invoice_id_under_the_detail_spelling_names_that_key() -> None:
    bad = invoice_json(invoiceId=None)
    del bad["invoiceid"]

    error = decode_error_for_page(bad)

    assert error.path == "data[0].invoiceId"


def test_invalid_billing_period_names_its_path() -> None:
    error = decode_error_for_page(invoice_json(billingPeriodEnd="2020-13-01T00:00:00Z"))

    assert error.path == "data[0].billingPeriodEnd"
    assert "2020-13-01T00:00:00Z" in str(error)


def test_record_that_is_not_an_object_names_its_index() -> None:
    error = decode_error_for_page(invoice_json(), ["inv-2"])

    assert error.path == "data[1]"
    assert str(error) == "data[1]: expected an object, got array"


def test_first_bad_record_is_reported() -> None:
    error = decode_error_for_page(
        invoice_json(), invoice_json(invoiceValue="x"), invoice_json(customerName=1)
    )

    assert error.path == "data[1].invoiceValue"


def test_structure_invoice_prefixes_the_given_path() -> None:
    with pytest.raises(DecodeError) as info:
        structure_invoice(invoice_json(invoiceNumber=9000001), path="data[41]")

    assert info.value.path == "data[41].invoiceNumber"


def test_a_bug_in_a_hook_is_not_reported_as_bad_data(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_parse(value: str) -> datetime:
        raise ZeroDivisionError

    monkeypatch.setattr(_values, "parse_datetime", broken_parse)

    with pytest.raises(ZeroDivisionError):
        structure_invoice(invoice_json(billingPeriodStart="1999-12-31T23:59:58.123Z"))


def test_structure_invoice_rejects_a_non_object_without_a_path() -> None:
    with pytest.raises(DecodeError, match="expected an object, got string") as info:
        structure_invoice("inv-1")

    assert info.value.path is None


# --- money: the number exactly as the JSON text writes it ------------------------------

# (JSON text, the Decimal it must give: same digits, same exponent)
CONTRACT_MONEY = [
    (b"17.50", "17.50"),
    (b"0.1", "0.1"),
    (b"200.0", "200.0"),
    (b"12345678901234567.891", "12345678901234567.891"),
    (b"200", "200"),
    (b"-0.30", "-0.30"),
    (b"1e2", "1E+2"),
    (b"1E-7", "1E-7"),
    (b"1e400", "1E+400"),  # no float could hold it; the text can
]


@pytest.mark.parametrize(("raw", "expected"), CONTRACT_MONEY)
def test_money_in_a_page_is_the_number_as_written(raw: bytes, expected: str) -> None:
    body = b'{"data": [{"invoiceid": "x"}, {"invoiceid": "y", "invoiceValue": ' + raw + b"}]}"

    value = decode_invoice_page(body, index=0).items[1].invoice_value

    assert value is not None
    assert value.as_tuple() == Decimal(expected).as_tuple()


@pytest.mark.parametrize(("raw", "expected"), CONTRACT_MONEY)
def test_money_of_a_single_invoice_is_the_number_as_written(raw: bytes, expected: str) -> None:
    body = b'{"data": {"invoiceid": "x", "invoiceValue": ' + raw + b"}}"

    value = decode_invoice(body).invoice_value

    assert value is not None
    assert value.as_tuple() == Decimal(expected).as_tuple()


@pytest.mark.parametrize(("raw", "expected"), CONTRACT_MONEY)
def test_detail_numbers_are_the_numbers_as_written(raw: bytes, expected: str) -> None:
    item = (
        b'{"id": "1", "quantity": '
        + raw
        + b', "value": '
        + raw
        + b', "operatorValueUsed": '
        + raw
        + b', "numericValues": [{"name": "n", "value": '
        + raw
        + b"}]}"
    )
    body = b'{"invoiceId": "a", "invoiceValue": ' + raw + b', "invoiceItems": [' + item + b"]}"

    detail = decode_invoice_detail(body)

    (record,) = detail.items
    numbers = [
        detail.invoice_value,
        record.quantity,
        record.value,
        record.operator_value_used,
        record.numeric_values["n"],
    ]
    assert [n.as_tuple() for n in numbers if n is not None] == [Decimal(expected).as_tuple()] * 5


def test_money_keeps_its_scale_and_compares_by_value() -> None:
    (first, second) = decode_invoice_page(
        b'{"data": [{"invoiceid": "a", "invoiceValue": 17.50},'
        b' {"invoiceid": "a", "invoiceValue": 17.5}]}',
        index=0,
    ).items

    assert str(first.invoice_value) == "17.50"
    assert str(second.invoice_value) == "17.5"
    assert first == second


@given(st.decimals(allow_nan=False, allow_infinity=False))
@settings(max_examples=500, deadline=None)
def test_any_json_number_is_read_digit_for_digit(number: Decimal) -> None:
    text = str(number).encode()  # always a valid JSON number for a finite Decimal
    body = b'{"data": [{"invoiceid": "x", "invoiceValue": ' + text + b"}]}"

    value = decode_invoice_page(body, index=0).items[0].invoice_value

    assert value is not None
    assert value.as_tuple() == Decimal(text.decode()).as_tuple()


@pytest.mark.parametrize("raw", [b"NaN", b"Infinity", b"-Infinity", b"17,50", b"0x10", b".5"])
def test_a_number_that_is_not_json_is_a_decode_error(raw: bytes) -> None:
    body = b'{"page_size": 1, "data": [{"invoiceid": "a", "invoiceValue": ' + raw + b"}]}"

    with pytest.raises(DecodeError, match="not valid JSON"):
        decode_invoice_page(body, index=0)


def test_a_python_float_is_not_money() -> None:
    # Only the parser's Decimals (or integers) are money: a float has lost the text.
    with pytest.raises(DecodeError) as info:
        structure_invoice({"invoiceid": "x", "invoiceValue": 17.5})

    assert info.value.path == "invoiceValue"


# --- datetimes -----------------------------------------------------------------------


SERVICE_DATETIMES = [
    ("2019-05-01T10:00:00.2890319Z", datetime(2019, 5, 1, 10, 0, 0, 289031, tzinfo=UTC)),
    ("2019-05-01T10:00:00.9999999Z", datetime(2019, 5, 1, 10, 0, 0, 999999, tzinfo=UTC)),
    ("2020-04-01T00:00:00.0000000", datetime(2020, 4, 1, tzinfo=UTC)),
    ("2020-01-31T23:59:59.999+00:00", datetime(2020, 1, 31, 23, 59, 59, 999000, tzinfo=UTC)),
    ("2020-01-31T23:59:59Z", datetime(2020, 1, 31, 23, 59, 59, tzinfo=UTC)),
    ("2020-01-31T23:59:59", datetime(2020, 1, 31, 23, 59, 59, tzinfo=UTC)),
    ("2020-01-31 23:59:59.5", datetime(2020, 1, 31, 23, 59, 59, 500000, tzinfo=UTC)),
    (
        "2020-01-31T23:59:59.12-05:00",
        datetime(2020, 1, 31, 23, 59, 59, 120000, tzinfo=timezone(timedelta(hours=-5))),
    ),
    (
        "2020-01-31T23:59:59+0130",
        datetime(2020, 1, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=1, minutes=30))),
    ),
    (
        "2020-01-31T23:59:59.123456789012+00:00",
        datetime(2020, 1, 31, 23, 59, 59, 123456, tzinfo=UTC),
    ),
]


@pytest.mark.parametrize(("text", "expected"), SERVICE_DATETIMES)
def test_parse_datetime_reads_service_forms(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)

    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(("text", "expected"), SERVICE_DATETIMES)
def test_python310_rewrite_reads_the_same_as_newer_pythons(text: str, expected: datetime) -> None:
    # Python 3.10's fromisoformat reads only 3 or 6 fractional digits and +HH:MM offsets.
    match = _ISO_DATETIME.fullmatch(text)
    assert match is not None

    rewritten = _rewrite_for_python310(match)
    parsed = datetime.fromisoformat(rewritten)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)

    assert re.fullmatch(r"[0-9-]{10}[T ][0-9:]{8}(\.[0-9]{6})?([+-][0-9]{2}:[0-9]{2})?", rewritten)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2020-01-31",
        "2020-01-31T23:59",
        "20200131T235959Z",
        "2020-01-31T23:59:59.",
        "2020-01-31T23:59:59,5Z",
        "2020-01-31T23:59:59+01",
        "2020-01-31t23:59:59z",
        "2020-13-31T23:59:59Z",
        "2020-02-30T00:00:00Z",
        "2020-01-31T24:00:00Z",
        "2020-01-31T23:59:59+24:00",
        "2020-01-31T23:59:59Z ",
    ],
)
def test_parse_datetime_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match=r"date-time"):
        parse_datetime(text)


def test_datetimes_in_records_are_timezone_aware() -> None:
    invoice = structure_invoice(invoice_json(billingPeriodStart="2020-04-01T00:00:00.0000000"))

    assert invoice.billing_period_start == datetime(2020, 4, 1, tzinfo=UTC)


def test_number_as_datetime_is_a_wrong_type() -> None:
    with pytest.raises(DecodeError) as info:
        structure_invoice(invoice_json(billingPeriodStart=1577836800))

    assert info.value.path == "billingPeriodStart"
    assert "got number" in str(info.value)


# --- error bodies --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [("error_404.json", "Not Found"), ("error_400.json", "The value '<tenant id>' is not valid.")],
)
def test_error_message_reads_the_services_message(name: str, message: str) -> None:
    assert error_message(example(name)) == message


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body>Bad Gateway</body></html>",
        b"[]",
        b'"Not Found"',
        b'{"error": 404}',
        b'{"error": 404, "message": 404}',
        b'{"error": 404, "message": "  "}',
        b"\xff\xfe",
    ],
)
def test_error_message_is_none_for_other_bodies(body: bytes) -> None:
    assert error_message(body) is None


def test_loads_wraps_parse_failures() -> None:
    with pytest.raises(DecodeError, match="response body is not valid JSON") as info:
        loads(b'{"data": [', url="https://example.test/x")

    assert info.value.url == "https://example.test/x"


def test_loads_returns_the_parsed_value() -> None:
    assert loads(b'{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}


# --- invoice detail ------------------------------------------------------------------


def test_documented_detail_decodes() -> None:
    detail = decode_invoice_detail(example("billingdata_invoice_detail.json"))

    assert detail.invoice_id == "00000000000000000000000a"
    assert detail.tenant_id == "00000000-0000-0000-0000-123456789123"
    assert detail.invoice_number == "9000004"
    assert detail.account_name == "Example Tenant 1"
    assert detail.billing_period_start == datetime(2020, 4, 1, tzinfo=UTC)
    assert detail.billing_period_end == datetime(2020, 4, 30, 23, 59, 59, tzinfo=UTC)
    assert detail.invoice_date == datetime(2020, 4, 9, tzinfo=UTC)
    assert detail.invoice_value == Decimal("17.5")
    assert len(detail.items) == 1


def test_documented_detail_item_decodes() -> None:
    (item,) = decode_invoice_detail(example("billingdata_invoice_detail.json")).items

    assert item.id == "000000000000000000000001"
    assert item.quantity == Decimal("1.0")
    assert item.value == Decimal("1.25")
    assert item.from_date == datetime(2020, 4, 1, tzinfo=UTC)
    assert item.to_date == datetime(2020, 4, 30, 23, 59, 59, tzinfo=UTC)
    assert item.calculation_order == 1
    assert item.operator_used == "PRICE"
    assert item.operator_value_used == Decimal("1.25")
    assert item.product_tag_name == "Essential User #XDM00001"
    assert item.billing_output_tags == ("PurchaseResult",)
    assert len(item.string_values) == 9
    assert item.string_values["Role"] == "customer.user.pbx"
    assert item.string_values["UserName"] == "user1@example.com"
    assert dict(item.numeric_values) == {"customer_licence_count": Decimal(1)}


def test_detail_value_mappings_are_read_only() -> None:
    (item,) = decode_invoice_detail(example("billingdata_invoice_detail.json")).items

    with pytest.raises(TypeError):
        item.string_values["Role"] = "other"  # type: ignore[index]
    with pytest.raises(TypeError):
        item.numeric_values["customer_licence_count"] = Decimal(2)  # type: ignore[index]


def test_detail_accepts_the_list_spelling_of_the_id() -> None:
    detail = detail_json()
    detail["invoiceid"] = detail.pop("invoiceId")

    assert decode_invoice_detail(encode(detail)).invoice_id == "00000000000000000000000a"


def test_detail_without_items_has_none() -> None:
    assert decode_invoice_detail(b'{"invoiceId": "a"}').items == ()


def test_item_defaults_for_missing_collections_are_empty_and_read_only() -> None:
    item = structure_invoice_item({"id": "1", "quantity": 2, "value": Decimal("0.5")})

    assert item == InvoiceItem(id="1", quantity=Decimal(2), value=Decimal("0.5"))
    assert dict(item.string_values) == {}
    with pytest.raises(TypeError):
        item.string_values["x"] = "y"  # type: ignore[index]


def test_item_ignores_unknown_keys() -> None:
    item = structure_invoice_item({"id": "1", "quantity": 1, "value": 1, "taxCode": "V"})

    assert item.id == "1"


def detail_error(mutate: Callable[[dict[str, Any]], None]) -> DecodeError:
    detail = detail_json()
    second = parse_json(encode(detail["invoiceItems"][0]))
    detail["invoiceItems"].append(second)
    mutate(detail)
    with pytest.raises(DecodeError) as info:
        decode_invoice_detail(encode(detail))
    return info.value


def test_detail_bad_quantity_names_its_path() -> None:
    def mutate(detail: dict[str, Any]) -> None:
        detail["invoiceItems"][1]["quantity"] = "1"

    error = detail_error(mutate)

    assert error.path == "invoiceItems[1].quantity"
    assert str(error) == "invoiceItems[1].quantity: expected a number, got string"


def test_detail_bad_numeric_value_names_its_path() -> None:
    def mutate(detail: dict[str, Any]) -> None:
        detail["invoiceItems"][0]["numericValues"].append({"name": "minutes", "value": "12"})

    error = detail_error(mutate)

    assert error.path == "invoiceItems[0].numericValues[1].value"


def test_detail_string_value_entry_without_name_names_its_path() -> None:
    def mutate(detail: dict[str, Any]) -> None:
        del detail["invoiceItems"][1]["stringValues"][2]["name"]

    assert detail_error(mutate).path == "invoiceItems[1].stringValues[2].name"


def test_detail_conflicting_repeated_name_is_rejected() -> None:
    def mutate(detail: dict[str, Any]) -> None:
        detail["invoiceItems"][0]["stringValues"].append({"name": "Role", "value": "other"})

    error = detail_error(mutate)

    assert error.path == "invoiceItems[0].stringValues[9].name"
    assert "repeated" in str(error)


def test_detail_identical_repeated_name_is_accepted() -> None:
    detail = detail_json()
    detail["invoiceItems"][0]["stringValues"].append({"name": "Role", "value": "customer.user.pbx"})

    (item,) = decode_invoice_detail(encode(detail)).items

    assert item.string_values["Role"] == "customer.user.pbx"


def test_detail_non_string_tag_names_its_path() -> None:
    def mutate(detail: dict[str, Any]) -> None:
        detail["invoiceItems"][1]["billingOutputTags"] = ["PurchaseResult", 7]

    assert detail_error(mutate).path == "invoiceItems[1].billingOutputTags[1]"


def test_detail_tags_given_as_a_string_are_rejected() -> None:
    def mutate(detail: dict[str, Any]) -> None:
        detail["invoiceItems"][0]["billingOutputTags"] = "PurchaseResult"

    assert detail_error(mutate).path == "invoiceItems[0].billingOutputTags"


@pytest.mark.parametrize("order", [True, 1.0, "1"])
def test_detail_calculation_order_must_be_an_integer(order: object) -> None:
    def mutate(detail: dict[str, Any]) -> None:
        detail["invoiceItems"][1]["calculationOrder"] = order

    assert detail_error(mutate).path == "invoiceItems[1].calculationOrder"


def test_detail_missing_item_id_names_its_path() -> None:
    def mutate(detail: dict[str, Any]) -> None:
        del detail["invoiceItems"][1]["id"]

    assert detail_error(mutate).path == "invoiceItems[1].id"


def test_structure_invoice_item_prefixes_the_given_path() -> None:
    with pytest.raises(DecodeError) as info:
        structure_invoice_item({"id": "1", "quantity": None, "value": 1}, path="invoiceItems[5]")

    assert info.value.path == "invoiceItems[5].quantity"
    assert str(info.value) == "invoiceItems[5].quantity: expected a number, got null"


# --- one table: the typed route agrees with the field-by-field reading ------------------


def _invoice_variants() -> list[dict[str, object]]:
    from myreports_async.testing import FakeService

    service = FakeService(200, seed=3)
    variants: list[dict[str, object]] = [
        parse_json(encode(service.invoice_json(i))) for i in range(200)
    ]
    base = variants[0]
    for key in list(base):
        if key != "invoiceid":
            variants.append({k: v for k, v in base.items() if k != key})  # field absent
            variants.append({**base, key: None})  # field null
    variants.append({**base, "invoiceValue": 17})
    variants.append({**base, "invoiceValue": Decimal("0.10"), "extra": [1, 2]})
    variants.append({"invoiceid": "only-the-id"})
    return variants


def test_typed_page_route_matches_the_field_by_field_reading() -> None:
    variants = _invoice_variants()
    expected = tuple(_INVOICE.read_fields(v) for v in variants)

    records = decode_invoice_page(page_body(*variants), index=0).items

    assert records == expected
    assert [str(r.invoice_value) for r in records] == [str(r.invoice_value) for r in expected]
    assert {type(record) for record in records} == {Invoice}


def _check_ordinary(record: Any, other: Any, *, hashable: bool = True) -> None:
    import pickle
    import weakref

    cls = type(record)
    rebuilt = cls(**attrs.asdict(record, recurse=False))
    assert record == rebuilt
    if hashable:  # an item's read-only mappings can be neither hashed nor pickled
        assert hash(record) == hash(rebuilt)
        assert pickle.loads(pickle.dumps(record)) == record  # noqa: S301 (our own bytes)
    assert record != other
    assert repr(record) == repr(rebuilt)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.id = "changed"
    assert weakref.ref(record)() is record
    first = attrs.fields(cls)[0].name
    changes: dict[str, Any] = {first: "other"}
    changed = attrs.evolve(typing.cast(Invoice, record), **changes)
    assert getattr(changed, first) == "other"


def test_records_built_by_the_generated_loop_are_ordinary_frozen_records() -> None:
    from myreports_async.testing import FakeService

    service = FakeService(2, seed=4)
    page = decode_invoice_page(page_body(*(service.invoice_json(i) for i in range(2))), index=0)
    detail = decode_invoice_detail(encode(service.detail_json(0)))

    assert type(page.items[0]) is Invoice
    _check_ordinary(page.items[0], page.items[1])
    assert type(detail.items[0]) is InvoiceItem
    _check_ordinary(detail.items[0], detail.items[-1], hashable=False)
    assert type(detail) is InvoiceDetail


def test_a_record_class_that_validates_is_built_by_calling_it() -> None:
    @attrs.frozen
    class Checked(_WeakRefSlot):
        name: str = attrs.field(validator=attrs.validators.max_len(3))

    codec = _RecordCodec(Checked)

    assert codec.convert_list([codec.wire(name="abc")]) == (Checked("abc"),)
    with pytest.raises(ValueError, match="Length of 'name'"):
        codec.convert_list([codec.wire(name="abcd")])


def test_a_record_class_python_cannot_switch_to_is_built_by_calling_it() -> None:
    @attrs.frozen(slots=False)
    class WithDict:
        name: str

    codec = _RecordCodec(WithDict)

    assert codec.convert_list([codec.wire(name="a")]) == (WithDict("a"),)


def test_a_new_field_is_read_from_its_camel_case_key_with_no_codec_edit() -> None:
    # What adding a field to Invoice takes: the attribute alone. Its key, its reading and
    # its strictness follow from the name and the annotation.
    @attrs.frozen
    class Extended(_WeakRefSlot):
        invoice_id: str
        due_date: datetime | None = None
        late_fee: Decimal | None = None

    codec = _RecordCodec(Extended)
    body = b'[{"invoiceId": "a", "dueDate": "2020-02-01T00:00:00Z", "lateFee": 1.50}]'

    decoder = msgspec.json.Decoder(list[codec.wire], float_hook=Decimal)  # type: ignore[name-defined]
    (record,) = codec.convert_list(decoder.decode(body))

    assert record == Extended("a", datetime(2020, 2, 1, tzinfo=UTC), Decimal("1.50"))
    assert str(record.late_fee) == "1.50"
    with pytest.raises(_InvalidValue) as info:
        codec.structure({"invoiceId": "a", "lateFee": "1.50"})
    assert info.value.path == ("lateFee",)


def test_json_keys_are_the_table() -> None:
    assert json_keys(Invoice) == {
        "invoice_id": "invoiceid",
        "tenant_id": "tenantId",
        "invoice_number": "invoiceNumber",
        "customer_name": "customerName",
        "billing_period_start": "billingPeriodStart",
        "billing_period_end": "billingPeriodEnd",
        "invoice_value": "invoiceValue",
    }
    assert json_keys(InvoiceDetail)["items"] == "invoiceItems"
    assert json_keys(InvoiceItem)["operator_value_used"] == "operatorValueUsed"


def test_item_route_matches_the_field_by_field_reading() -> None:
    detail = detail_json()
    items = detail["invoiceItems"]

    assert decode_invoice_detail(encode(detail)).items == tuple(
        _INVOICE_ITEM.read_fields(item) for item in items
    )


@pytest.mark.parametrize(
    ("bad", "path"),
    [
        ({"invoiceValue": "12.5"}, "data[1].invoiceValue"),
        ({"billingPeriodStart": ["2020-01-01"]}, "data[1].billingPeriodStart"),
        ({"tenantId": 7}, "data[1].tenantId"),
        ({"invoiceValue": True}, "data[1].invoiceValue"),
    ],
)
def test_typed_page_route_leaves_bad_records_to_the_error_search(
    bad: dict[str, object], path: str
) -> None:
    from myreports_async.testing import FakeService

    service = FakeService(3, seed=1)
    data = [service.invoice_json(0), {**service.invoice_json(1), **bad}, service.invoice_json(2)]
    body = encode({"page_size": 3, "data": data, "status": "success"})

    with pytest.raises(DecodeError) as info:
        decode_invoice_page(body, index=0)

    assert info.value.path == path


def test_nesting_deeper_than_python_allows_is_a_decode_error() -> None:
    body = b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    with pytest.raises(DecodeError, match="not valid JSON: nested too deeply"):
        decode_invoice_page(body, index=0)
