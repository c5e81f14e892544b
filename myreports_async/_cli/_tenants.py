"""The commands of the Enterprise resources: listings, and writes behind explicit commands.

Listings (ndjson, CSV or a table, like ``invoices``)::

    myreports accounts
    myreports customers ACCOUNT_ID [--filter TEXT]
    myreports users ACCOUNT_ID [CUSTOMER_ID]
    myreports pbx-connections ACCOUNT_ID CUSTOMER_ID
    myreports metrics ACCOUNT_ID                       (one JSON object)

Writes, each printing what the service answered::

    myreports create-account --name NAME [...] [--accept-charges]
    myreports create-customer ACCOUNT_ID --name NAME [...] [--accept-charges]
    myreports create-user ACCOUNT_ID [CUSTOMER_ID] --email E --display-name N [--role R]...
    myreports update-account ACCOUNT_ID --set FIELD=VALUE... [--accept-charges]
    myreports update-customer ACCOUNT_ID CUSTOMER_ID --set FIELD=VALUE... [--accept-charges]
    myreports update-user ACCOUNT_ID USER_ID [--customer ID] --set FIELD=VALUE... [--accept-charges]
    myreports delete-account ACCOUNT_ID
    myreports delete-customer ACCOUNT_ID CUSTOMER_ID
    myreports delete-user ACCOUNT_ID USER_ID [--customer ID]

Rule 1: a write that may incur charges is sent without ``accept-charges`` unless the
        command line says ``--accept-charges``: the service then refuses it (402), the
        command prints what it would have done and exits with the charges code, and
        nothing was carried out. Charges are accepted by a person, never by default.
Rule 2: an id that the client refuses (empty, a ``/``...) is a usage error (exit 2),
        reported before any request, like a bad option.
Rule 3: ``--set FIELD=VALUE`` takes the record's field name in snake_case; VALUE is
        read as JSON when it is JSON (``false``, ``3``, ``["a", "b"]``), else as text,
        so ``--set name=Acme`` needs no quotes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import TypeVar

import attrs
import click
import msgspec

from myreports_async import (
    Account,
    AccountMetrics,
    Customer,
    MyReportsClient,
    PbxConnection,
    User,
    Users,
)

from ._billing import format_option, output_option, prefetch_option
from ._formats import RecordFormat, RecordWriter, make_writer
from ._output import LineSink
from ._run import reporting, run
from ._setup import GlobalOptions, load_auth, open_client

__all__ = [
    "ACCOUNTS",
    "CUSTOMERS",
    "LISTINGS",
    "USERS",
    "accept_charges_option",
    "call",
    "changes_of",
    "customer_option",
    "print_record",
    "set_option",
    "users_of",
]

R = TypeVar("R")
T = TypeVar("T")

ACCOUNTS: RecordFormat[Account] = RecordFormat(
    Account, table_leaves_out={"parent_tenant_id"}, table_cut={"description": 40}
)
CUSTOMERS: RecordFormat[Customer] = RecordFormat(
    Customer,
    # The table shows who they are; their settings are in ndjson and CSV.
    table_leaves_out={
        field.name
        for field in attrs.fields(Customer)
        if field.name not in {"id", "name", "description", "reference", "enabled", "date_created"}
    },
    table_cut={"description": 40},
)
USERS: RecordFormat[User] = RecordFormat(User, table_cut={"display_name": 32})
PBX_CONNECTIONS: RecordFormat[PbxConnection] = RecordFormat(PbxConnection)
METRICS: RecordFormat[AccountMetrics] = RecordFormat(AccountMetrics)

page_size_option = click.option(
    "--page-size",
    type=click.IntRange(1, 1000),
    default=1000,
    show_default=True,
    help="Records asked for per page (the service's maximum is 1,000).",
)
accept_charges_option = click.option(
    "--accept-charges",
    is_flag=True,
    help="Accept the charges this request may incur (sends `accept-charges: true`). "
    "Without it, a chargeable request is refused and nothing is done.",
)
set_option = click.option(
    "--set",
    "assignments",
    multiple=True,
    required=True,
    metavar="FIELD=VALUE",
    help="A field to replace, snake_case (display_name=...); VALUE is JSON or text. Repeatable.",
)
customer_option = click.option(
    "--customer",
    "customer_id",
    metavar="ID",
    help="The user is a customer tenant's user (else the account's).",
)


# -- running one call ----------------------------------------------------------------------


def call(options: GlobalOptions, action: Callable[[MyReportsClient], Awaitable[T]]) -> T:
    """Run ``action(client)`` with the command's client; errors become one line (Rule 2)."""
    auth = load_auth(options)

    async def main() -> T:
        async with open_client(options, auth) as client:
            try:
                return await action(client)
            except ValueError as exc:  # an id or a field, checked before any request
                raise click.UsageError(str(exc)) from None

    with reporting():
        return run(main)


def print_record(encoding: RecordFormat[R], record: R) -> None:
    with LineSink(None) as sink:
        sink.write(encoding.json(record) + "\n")


def _list(
    options: GlobalOptions,
    encoding: RecordFormat[R],
    records: Callable[[MyReportsClient], AsyncGenerator[R, None]],
    *,
    fmt: str,
    output: str | None,
) -> None:
    """Stream ``records(client)`` to ``output`` in ``fmt`` (Rule 1 of ``_formats``)."""
    with LineSink(output) as sink:
        writer: RecordWriter[R] = make_writer(fmt, sink, encoding)

        async def write(client: MyReportsClient) -> None:
            try:
                async with contextlib.aclosing(records(client)) as each:
                    async for record in each:
                        writer.write(record)
            except BaseException:
                # What is held back is written, but no header for a failed listing; a
                # failure to write it must not hide the failure being reported.
                with contextlib.suppress(OSError):
                    writer.finish(complete=False)
                raise
            writer.finish(complete=True)

        call(options, write)


def changes_of(assignments: Sequence[str]) -> dict[str, object]:
    """``--set`` assignments as the ``changes`` of an update (Rule 3)."""
    changes: dict[str, object] = {}
    for assignment in assignments:
        name, equals, text = assignment.partition("=")
        if not equals or not name.strip():
            raise click.BadParameter(f"{assignment!r} is not FIELD=VALUE", param_hint="'--set'")
        try:
            value: object = msgspec.json.decode(text)
        except msgspec.DecodeError:
            value = text
        changes[name.strip()] = value
    return changes


# -- listings ------------------------------------------------------------------------------


@click.command(short_help="List the reseller accounts.")
@format_option
@output_option
@page_size_option
@prefetch_option
@click.pass_obj
def accounts(
    options: GlobalOptions, fmt: str, output: str | None, page_size: int, prefetch: int
) -> None:
    """List every reseller account of the enterprise, in the service's order."""
    _list(
        options,
        ACCOUNTS,
        lambda client: client.accounts.iter(page_size=page_size, prefetch=prefetch),
        fmt=fmt,
        output=output,
    )


@click.command(short_help="List an account's customers.")
@click.argument("account_id", metavar="ACCOUNT_ID")
@click.option(
    "--filter",
    "text",
    metavar="TEXT",
    help="Only customers whose name or reference contains TEXT.",
)
@format_option
@output_option
@page_size_option
@prefetch_option
@click.pass_obj
def customers(
    options: GlobalOptions,
    account_id: str,
    text: str | None,
    fmt: str,
    output: str | None,
    page_size: int,
    prefetch: int,
) -> None:
    """List the customers of account ACCOUNT_ID (all, or those matching --filter)."""
    _list(
        options,
        CUSTOMERS,
        lambda client: client.customers(account_id).iter(
            filter=text, page_size=page_size, prefetch=prefetch
        ),
        fmt=fmt,
        output=output,
    )


@click.command(short_help="List an account's or a customer's users.")
@click.argument("account_id", metavar="ACCOUNT_ID")
@click.argument("customer_id", metavar="[CUSTOMER_ID]", required=False)
@format_option
@output_option
@page_size_option
@prefetch_option
@click.pass_obj
def users(
    options: GlobalOptions,
    account_id: str,
    customer_id: str | None,
    fmt: str,
    output: str | None,
    page_size: int,
    prefetch: int,
) -> None:
    """List the users of account ACCOUNT_ID, or of its customer CUSTOMER_ID."""

    def records(client: MyReportsClient) -> AsyncGenerator[User, None]:
        return users_of(client, account_id, customer_id).iter(
            page_size=page_size, prefetch=prefetch
        )

    _list(options, USERS, records, fmt=fmt, output=output)


@click.command("pbx-connections", short_help="List a customer's PBX connections.")
@click.argument("account_id", metavar="ACCOUNT_ID")
@click.argument("customer_id", metavar="CUSTOMER_ID")
@format_option
@output_option
@page_size_option
@prefetch_option
@click.pass_obj
def pbx_connections(
    options: GlobalOptions,
    account_id: str,
    customer_id: str,
    fmt: str,
    output: str | None,
    page_size: int,
    prefetch: int,
) -> None:
    """List the PBX connections of customer CUSTOMER_ID of account ACCOUNT_ID.

    API keys and licence keys are never written.
    """
    _list(
        options,
        PBX_CONNECTIONS,
        lambda client: client.pbx_connections(account_id, customer_id).iter(
            page_size=page_size, prefetch=prefetch
        ),
        fmt=fmt,
        output=output,
    )


@click.command(short_help="Print an account's licence metrics as JSON.")
@click.argument("account_id", metavar="ACCOUNT_ID")
@click.pass_obj
def metrics(options: GlobalOptions, account_id: str) -> None:
    """Print the licence metrics of account ACCOUNT_ID: its customers, PBXs and role counts."""
    print_record(METRICS, call(options, lambda client: client.accounts.metrics(account_id)))


def users_of(client: MyReportsClient, account_id: str, customer_id: str | None) -> Users:
    """The account's users, or its customer's when ``customer_id`` is given."""
    if customer_id is None:
        return client.account_users(account_id)
    return client.customer_users(account_id, customer_id)


LISTINGS = (accounts, customers, users, pbx_connections, metrics)
"""The listing commands."""
