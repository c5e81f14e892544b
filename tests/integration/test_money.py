"""Money end to end: the Decimal of the number exactly as the service's JSON text writes it.

The documented money examples (the contract's Records, changed in 0.2) over a real socket: the
listing and a single invoice from bodies the fake service answers as given, the detail
and its streamed items from the fake service's own detail files (written with two
decimal places, like the .NET service).
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

from myreports_async import MyReportsClient
from myreports_async.testing import FakeService, Fault

# (JSON text, the Decimal it must give: the same digits and exponent)
CONTRACT_MONEY = [
    ("17.50", "17.50"),
    ("0.1", "0.1"),
    ("200.0", "200.0"),
    ("12345678901234567.891", "12345678901234567.891"),
]


def _invoices_json() -> bytes:
    items = ",".join(
        f'{{"invoiceid": "{i:024x}", "invoiceValue": {text}}}'
        for i, (text, _) in enumerate(CONTRACT_MONEY)
    )
    return f'{{"page_size": 4, "data": [{items}], "status": "success"}}'.encode()


async def test_listing_money_is_the_number_as_written(
    service: FakeService, client: MyReportsClient
) -> None:
    service.inject(Fault.body(_invoices_json()), route="list", page_index=0)
    service.inject(Fault.body(b'{"page_size": 0, "data": []}'), route="list", page_index=1)

    values = [i.invoice_value async for i in client.iter_invoices(page_size=4, prefetch=1)]

    assert [v.as_tuple() for v in values if v is not None] == [
        Decimal(expected).as_tuple() for _, expected in CONTRACT_MONEY
    ]


async def test_single_invoice_money_is_the_number_as_written(
    service: FakeService, client: MyReportsClient
) -> None:
    for text, expected in CONTRACT_MONEY:
        body = f'{{"data": {{"invoiceid": "a", "invoiceValue": {text}}}}}'.encode()
        service.inject(Fault.body(body), route="invoice")

        invoice = await client.get_invoice(service.invoice_id(0))

        assert invoice.invoice_value is not None
        assert invoice.invoice_value.as_tuple() == Decimal(expected).as_tuple()


async def test_detail_money_keeps_the_services_two_decimal_places(
    service: FakeService, client: MyReportsClient
) -> None:
    invoice_id = service.invoice_id(3)
    source = service.detail_json(3)

    detail = await client.get_invoice_detail(invoice_id)
    async with contextlib.aclosing(client.iter_invoice_items(invoice_id)) as stream:
        streamed = [item async for item in stream]

    assert detail.invoice_value is not None
    assert str(detail.invoice_value) == f"{source['invoiceValue']:.2f}"
    assert [str(i.value) for i in detail.items] == [
        f"{item['value']:.2f}" for item in source["invoiceItems"]
    ]
    assert [str(i.quantity) for i in detail.items] == [
        f"{item['quantity']:.2f}" for item in source["invoiceItems"]
    ]
    assert [(str(i.value), str(i.quantity)) for i in streamed] == [
        (str(i.value), str(i.quantity)) for i in detail.items
    ]
