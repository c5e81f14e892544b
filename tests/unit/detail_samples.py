"""Detail JSON documents for the download and scanner tests."""

from __future__ import annotations

from typing import Any


def item_json(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"item-{n}",
        "quantity": 1.0 + n,
        "value": 17.5 + n / 100,
        "fromDate": "2020-04-01T00:00:00.000+00:00",
        "toDate": "2020-04-30T23:59:59.000+00:00",
        "calculationOrder": n,
        "operatorUsed": "PRICE",
        "operatorValueUsed": 0.1,
        "productTagName": "Essential User #XDM00001",
        "billingOutputTags": ["PurchaseResult"],
        "stringValues": [{"name": "Role", "value": "customer.user.pbx"}],
        "numericValues": [{"name": "customer_licence_count", "value": n}],
        **extra,
    }


def detail_json(items: list[Any], **head: Any) -> dict[str, Any]:
    return {
        "tenantId": "t",
        "invoiceId": "00000000000000000000000a",
        "invoiceValue": 17.5,
        "invoiceItems": items,
        **head,
    }
