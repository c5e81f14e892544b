"""Seeded fake billing data, generated on demand from ``(seed, index)``.

Nothing is stored: invoice ``i`` of seed ``s`` is a pure function of ``(s, i)``, so a fake
service with millions of invoices costs no memory, and the same seed always serves the
same data. Randomness comes from a splitmix64 hash, not from :mod:`random`, so it is the
same on every Python version and cheap per record.

Rules of the generated world:

1. Invoices come in blocks of :data:`CUSTOMERS_PER_BLOCK` customers billed for the same
   month; consecutive blocks are consecutive months, for :data:`MONTHS` months from
   :data:`FIRST_YEAR`-01, after which a new set of customers starts.
2. An invoice id is 24 lowercase hex digits: 8 that depend only on the seed, then a
   bijective scramble of the index, so ids are distinct and :meth:`InvoiceFactory.index_of`
   maps an id back to its index without any table.
3. Money is counted in integer cents; the detail's items split the invoice's cents
   exactly, so the detail's ``invoiceValue`` is the exact sum of its items and equals the
   list's ``invoiceValue`` (unless the detail has no items: then it is 0).
4. The detail JSON file writes its money (and quantities) with two decimal places, as a
   .NET ``decimal`` does (``17.50``, ``2.00``); the list payload writes the shortest
   form (``17.5``). The dicts of :meth:`InvoiceFactory.invoice_json` and
   :meth:`InvoiceFactory.detail_json` hold the same numbers as floats.
"""

from __future__ import annotations

import calendar
import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import msgspec

__all__ = [
    "CUSTOMERS_PER_BLOCK",
    "FIRST_YEAR",
    "MONTHS",
    "InvoiceFactory",
    "customers_named",
    "utc_timestamp",
]

CUSTOMERS_PER_BLOCK = 48
MONTHS = 120
FIRST_YEAR = 2016

_MASK = (1 << 64) - 1
_TAG_SEED = 1
_TAG_INVOICE = 2
_TAG_CUSTOMER = 3
_TAG_ITEM = 4
_TAG_PAIR = 5
_TAG_PERMUTE = 6

# An odd multiplier is invertible modulo 2**64: that makes the id scramble a bijection.
_ID_MULTIPLIER = 0x9E3779B97F4A7C15
_ID_INVERSE = pow(_ID_MULTIPLIER, -1, 1 << 64)

_NAME_HEADS = (
    "Northwind", "Blue Harbor", "Acme", "Contoso", "Fabrikam", "Riverside", "Summit",
    "Oakridge", "Silver Birch", "Redwood", "Harbourview", "Greenfield", "Lakeshore",
    "Pinecrest", "Brightwater", "Stonebridge", "Clearview", "Highland", "Westgate",
    "Eastbrook", "Kingsway", "Meridian", "Crescent", "Bluebell", "Ironwood", "Maple Leaf",
    "Copperfield", "Starling", "Evergreen", "Windmill",
)  # fmt: skip
_NAME_TRADES = (
    "Logistics", "Dental Care", "Engineering", "Accountants", "Legal Services",
    "Property Group", "Veterinary Clinic", "Hotels", "Motors", "Pharmacy", "Builders",
    "Consulting", "Insurance Brokers", "Travel", "Foods", "Medical Centre", "Print & Design",
    "Recruitment", "Solar", "Plumbing",
)  # fmt: skip
_NAME_FORMS = ("Ltd", "Inc.", "GmbH", "Pty Ltd", "LLC", "plc", "S.A.", "& Co.")
_UNIT_PRICES_CENTS = (125, 450, 899, 1250, 1999, 2450)
_PRODUCTS = (
    # (product tag, role, calculation order)
    ("Essential User #XDM00001", "customer.user.pbx", 1),
    ("Professional User #XDM00002", "customer.user.pbx", 1),
    ("Contact Centre Agent #XDM00005", "customer.user.agent", 2),
    ("Call Recording #XDM00010", "customer.user.recording", 3),
    ("Wallboard #XDM00020", "customer.site.wallboard", 4),
)
CSV_COLUMNS = (
    "InvoiceId",
    "InvoiceNumber",
    "AccountName",
    "ItemId",
    "ProductTagName",
    "UserName",
    "Quantity",
    "Value",
    "FromDate",
    "ToDate",
)


def _mix64(x: int) -> int:
    """splitmix64's finaliser: a fast, well-spread 64-bit hash step."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _hash(*parts: int) -> int:
    h = 0x243F6A8885A308D3
    for part in parts:
        h = _mix64(h ^ (part & _MASK))
    return h


def _unit(h: int) -> float:
    """A float in [0, 1) from a 64-bit hash."""
    return (h >> 11) / float(1 << 53)


def _uuid(h: int) -> str:
    hexa = f"{h:016x}{_mix64(h):016x}"
    return f"{hexa[:8]}-{hexa[8:12]}-{hexa[12:16]}-{hexa[16:20]}-{hexa[20:32]}"


def _money(cents: int) -> float:
    # cents / 100 is the double nearest the decimal, so its repr (and a JSON writer's)
    # is the short decimal form: 1234 -> 12.34, 1750 -> 17.5.
    return cents / 100


def _scaled(value: float) -> Decimal:
    """A float money or quantity written with two decimal places: 17.5 -> 17.50."""
    return Decimal(repr(value)).quantize(_CENT)


_CENT = Decimal("0.01")
# Decimals as JSON numbers with their digits (msgspec writes them as strings otherwise).
_DETAIL_ENCODER = msgspec.json.Encoder(decimal_format="number")


def _with_scaled(obj: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: _scaled(value) if key in keys else value for key, value in obj.items()}


def utc_timestamp(now: datetime | None = None) -> str:
    """The service's timestamp form: UTC with 7 fractional digits and ``Z``.

    Example: ``2019-05-01T10:00:00.2890310Z``.
    """
    moment = now or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def customers_named(invoice_count: int) -> int:
    """How many customers the first ``invoice_count`` invoices name (rule 1).

    They are customer numbers ``0`` to the result minus one: each cycle of
    :data:`MONTHS` blocks bills the next :data:`CUSTOMERS_PER_BLOCK` customers.
    """
    cycles, rest = divmod(invoice_count, MONTHS * CUSTOMERS_PER_BLOCK)
    return cycles * CUSTOMERS_PER_BLOCK + min(rest, CUSTOMERS_PER_BLOCK)


@attrs.frozen
class _Customer:
    number: int
    name: str
    tenant_id: str
    domain: str
    licences: int
    unit_price_cents: int


@attrs.frozen
class _InvoiceFacts:
    index: int
    invoice_id: str
    invoice_number: str
    customer: _Customer
    period_start: date
    period_end: date
    value_cents: int


@attrs.frozen
class InvoiceFactory:
    """Makes the invoices of one seed. Cheap to build; holds no per-invoice state."""

    seed: int = 0
    _seed_tag: int = attrs.field(init=False)
    _permute_key: int = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_seed_tag", _hash(_TAG_SEED, self.seed) >> 32)
        object.__setattr__(self, "_permute_key", _hash(_TAG_PERMUTE, self.seed))

    # -- ids ---------------------------------------------------------------------------

    def invoice_id(self, index: int) -> str:
        """The id of invoice ``index``: 24 lowercase hex digits."""
        scrambled = (((index + self._permute_key) & _MASK) * _ID_MULTIPLIER) & _MASK
        return f"{self._seed_tag:08x}{scrambled:016x}"

    def index_of(self, invoice_id: str) -> int | None:
        """The index whose id is ``invoice_id`` (lowercase hex), or ``None`` if no index has it.

        The result may exceed the service's invoice count; the caller checks that.
        """
        if len(invoice_id) != 24 or int(invoice_id[:8], 16) != self._seed_tag:
            return None
        scrambled = int(invoice_id[8:], 16)
        index = ((scrambled * _ID_INVERSE) - self._permute_key) & _MASK
        # Indexes at or above 2**63 would come from "negative" positions: not ours.
        return index if index < (1 << 63) else None

    # -- invoices ----------------------------------------------------------------------

    def customer(self, number: int) -> _Customer:
        """Customer ``number``, as its invoices name it (the tenant directory uses it too)."""
        return self._customer(number)

    def _customer(self, number: int) -> _Customer:
        h = _hash(_TAG_CUSTOMER, self.seed, number)
        head = _NAME_HEADS[h % len(_NAME_HEADS)]
        trade = _NAME_TRADES[(h >> 8) % len(_NAME_TRADES)]
        form = _NAME_FORMS[(h >> 16) % len(_NAME_FORMS)]
        h2 = _mix64(h)
        # Log-uniform licence counts: many small customers, a few large ones.
        licences = max(1, int(400 ** _unit(h2)))
        domain = head.lower().replace(" ", "") + "-" + trade.split()[0].lower() + ".example"
        return _Customer(
            number=number,
            name=f"{head} {trade} {form}",
            tenant_id=_uuid(_mix64(h2)),
            domain=domain,
            licences=licences,
            unit_price_cents=_UNIT_PRICES_CENTS[(h2 >> 40) % len(_UNIT_PRICES_CENTS)],
        )

    def _facts(self, index: int) -> _InvoiceFacts:
        block, slot = divmod(index, CUSTOMERS_PER_BLOCK)
        cycle, month = divmod(block, MONTHS)
        customer = self._customer(cycle * CUSTOMERS_PER_BLOCK + slot)
        year, month0 = divmod(month, 12)
        start = date(FIRST_YEAR + year, month0 + 1, 1)
        last_day = calendar.monthrange(start.year, start.month)[1]
        h = _hash(_TAG_INVOICE, self.seed, index)
        if h % 50 == 0:
            cents = 0  # credited or suspended: the real service has 0.0 invoices too
        else:
            variation = 0.85 + 0.3 * _unit(_mix64(h))
            cents = round(customer.licences * customer.unit_price_cents * variation)
        return _InvoiceFacts(
            index=index,
            invoice_id=self.invoice_id(index),
            invoice_number=str(9_000_000 + index),
            customer=customer,
            period_start=start,
            period_end=start.replace(day=last_day),
            value_cents=cents,
        )

    def invoice_json(self, index: int) -> dict[str, Any]:
        """The JSON object of invoice ``index``, as the list and single endpoints serve it."""
        facts = self._facts(index)
        return {
            "tenantId": facts.customer.tenant_id,
            "invoiceid": facts.invoice_id,
            "invoiceNumber": facts.invoice_number,
            "customerName": facts.customer.name,
            "billingPeriodStart": f"{facts.period_start.isoformat()}T00:00:00.000+00:00",
            "billingPeriodEnd": f"{facts.period_end.isoformat()}T23:59:59.999+00:00",
            "invoiceValue": _money(facts.value_cents),
        }

    # -- detail ------------------------------------------------------------------------

    def _detail_head(self, facts: _InvoiceFacts, item_count: int) -> dict[str, Any]:
        invoice_date = facts.period_start + timedelta(days=8)
        return {
            "tenantId": facts.customer.tenant_id,
            "invoiceId": facts.invoice_id,
            "invoiceNumber": facts.invoice_number,
            "accountName": facts.customer.name,
            "billingPeriodStart": f"{facts.period_start.isoformat()}T00:00:00.0000000",
            "billingPeriodEnd": f"{facts.period_end.isoformat()}T23:59:59.0000000",
            "invoiceDate": f"{invoice_date.isoformat()}T00:00:00.0000000",
            "invoiceValue": _money(facts.value_cents if item_count else 0),
        }

    def _item_cents(self, facts: _InvoiceFacts, position: int, item_count: int) -> int:
        # Even split of the cents, then each pair of neighbours moves a random amount
        # from the second to the first: values vary, the total stays exact, O(1) per item.
        base, remainder = divmod(facts.value_cents, item_count)
        cents = base + (1 if position < remainder else 0)
        pair = position // 2
        if 2 * pair + 1 < item_count:
            moved = _hash(_TAG_PAIR, self.seed, facts.index, pair) % (base + 1)
            cents += moved if position % 2 == 0 else -moved
        return cents

    def _item(self, facts: _InvoiceFacts, position: int, item_count: int) -> dict[str, Any]:
        h = _hash(_TAG_ITEM, self.seed, facts.index, position)
        tag, role, order = _PRODUCTS[h % len(_PRODUCTS)]
        quantity = 1 + (h >> 8) % 10
        cents = self._item_cents(facts, position, item_count)
        customer = facts.customer
        return {
            "id": f"{h:016x}{_mix64(h) >> 32:08x}",
            "quantity": float(quantity),
            "value": _money(cents),
            "fromDate": f"{facts.period_start.isoformat()}T00:00:00.000+00:00",
            "toDate": f"{facts.period_end.isoformat()}T23:59:59.000+00:00",
            "calculationOrder": order,
            "operatorUsed": "PRICE",
            "operatorValueUsed": round(cents / 100 / quantity, 4),
            "productTagName": tag,
            "billingOutputTags": ["PurchaseResult"],
            "stringValues": [
                {"name": "Role", "value": role},
                {"name": "ResellerCode", "value": _uuid(_hash(_TAG_SEED, self.seed, 1))},
                {"name": "ResellerName", "value": "ABC Reseller"},
                {"name": "TenantCode", "value": customer.tenant_id},
                {"name": "TenantCodeExt", "value": f"custom ref {customer.number + 1}"},
                {"name": "TenantName", "value": customer.name},
                {"name": "UserId", "value": _uuid(_hash(_TAG_ITEM, h))},
                {"name": "UserName", "value": f"user{position + 1}@{customer.domain}"},
            ],
            "numericValues": [{"name": "customer_licence_count", "value": customer.licences}],
        }

    def detail_json(self, index: int, item_count: int) -> dict[str, Any]:
        """The whole detail JSON object of invoice ``index`` (for asserts in tests)."""
        facts = self._facts(index)
        detail = self._detail_head(facts, item_count)
        detail["invoiceItems"] = [self._item(facts, j, item_count) for j in range(item_count)]
        return detail

    def iter_detail_json(self, index: int, item_count: int, batch: int = 500) -> Iterator[bytes]:
        """The detail JSON of invoice ``index`` as byte chunks, ``batch`` items at a time."""
        facts = self._facts(index)
        encode = _DETAIL_ENCODER.encode
        head = encode(_with_scaled(self._detail_head(facts, item_count), ("invoiceValue",)))
        yield head[:-1] + b',"invoiceItems":['
        for start in range(0, item_count, batch):
            stop = min(item_count, start + batch)
            chunk = b",".join(
                encode(_with_scaled(self._item(facts, j, item_count), ("quantity", "value")))
                for j in range(start, stop)
            )
            yield (b"," + chunk) if start else chunk
        yield b"]}"

    def iter_detail_csv(self, index: int, item_count: int, batch: int = 500) -> Iterator[bytes]:
        """The simplified CSV of invoice ``index`` (header, then one row per item)."""
        facts = self._facts(index)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for start in range(0, item_count, batch):
            for j in range(start, min(item_count, start + batch)):
                item = self._item(facts, j, item_count)
                writer.writerow(
                    (
                        facts.invoice_id,
                        facts.invoice_number,
                        facts.customer.name,
                        item["id"],
                        item["productTagName"],
                        item["stringValues"][-1]["value"],
                        f"{item['quantity']:.2f}",
                        f"{self._item_cents(facts, j, item_count) / 100:.2f}",
                        item["fromDate"],
                        item["toDate"],
                    )
                )
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue().encode()

    def iter_detail_zip(self, index: int, item_count: int) -> Iterator[bytes]:
        """The detail ZIP of invoice ``index`` as byte chunks, built with a bounded buffer.

        The ZIP holds ``invoice_<number>_detail.json`` and ``invoice_<number>_detail.csv``.
        It is written as a stream (sizes in data descriptors), so no chunk is ever
        rewritten and a 100,000-item invoice never sits in memory whole.
        """
        facts = self._facts(index)
        stamp = facts.period_start + timedelta(days=8)
        sink = _ChunkSink()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for suffix, chunks in (
                ("json", self.iter_detail_json(index, item_count)),
                ("csv", self.iter_detail_csv(index, item_count)),
            ):
                info = zipfile.ZipInfo(
                    f"invoice_{facts.invoice_number}_detail.{suffix}",
                    date_time=(stamp.year, stamp.month, stamp.day, 0, 0, 0),
                )
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w") as member:
                    for chunk in chunks:
                        member.write(chunk)
                        if sink.size >= 1 << 16:
                            yield sink.take()
        yield sink.take()

    def summary_facts(self, index: int) -> tuple[str, str, str, str]:
        """Invoice number, customer, period and value (``"1234.50"``) for the summary PDF."""
        facts = self._facts(index)
        period = f"{facts.period_start.isoformat()} to {facts.period_end.isoformat()}"
        value = f"{facts.value_cents // 100}.{facts.value_cents % 100:02d}"
        return facts.invoice_number, facts.customer.name, period, value


class _ChunkSink(io.BytesIO):
    """A write-only, non-seekable buffer: zipfile then streams (data descriptors)."""

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        raise io.UnsupportedOperation("not seekable")

    def seek(self, offset: int, whence: int = 0) -> int:
        raise io.UnsupportedOperation("not seekable")

    @property
    def size(self) -> int:
        """Bytes held; the position is always at the end, as writes only append."""
        return super().tell()

    def take(self) -> bytes:
        """Everything written since the last call."""
        data = self.getvalue()
        super().seek(0)
        self.truncate()
        return data
