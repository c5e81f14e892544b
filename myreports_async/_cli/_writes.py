"""The write commands of the Enterprise resources: create, update, delete.

Rules 1-3 of ``_tenants`` apply: charges are accepted only by ``--accept-charges``, a
refused id is a usage error, ``--set FIELD=VALUE`` reads VALUE as JSON when it is JSON.
A create prints the record the service answered with; an update or a delete prints
nothing and exits 0 once the service said it was done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ._setup import GlobalOptions
from ._tenants import (
    ACCOUNTS,
    CUSTOMERS,
    USERS,
    accept_charges_option,
    call,
    changes_of,
    customer_option,
    print_record,
    set_option,
    users_of,
)

__all__ = ["WRITES"]


# -- writes --------------------------------------------------------------------------------


def _tenant_options(command: Callable[..., None]) -> Callable[..., None]:
    """The fields an account or a customer is created with."""
    for option in reversed(
        (
            click.option("--name", required=True, help="Short name (up to 100 characters)."),
            click.option("--description", help="Longer descriptive name."),
            click.option("--reference", help="Your reference for it (e.g. your ERP's code)."),
            click.option("--enabled/--disabled", default=False, show_default=True),
            click.option("--timezone", metavar="IANA", help="e.g. Europe/London (inherited)."),
            click.option("--country-code", metavar="CC", help="ISO 3166 (inherited)."),
            accept_charges_option,
        )
    ):
        command = option(command)
    return command


# Click hands the options of _tenant_options over by name; they are the keyword arguments
# of both creates, so they go through as they are (``fields``).


@click.command("create-account", short_help="Create a reseller account.")
@_tenant_options
@click.pass_obj
def create_account(options: GlobalOptions, /, **fields: Any) -> None:
    """Create a reseller account; print it as the service answered."""
    print_record(ACCOUNTS, call(options, lambda client: client.accounts.create(**fields)))


@click.command("create-customer", short_help="Create a customer of an account.")
@click.argument("account_id", metavar="ACCOUNT_ID")
@_tenant_options
@click.pass_obj
def create_customer(options: GlobalOptions, /, account_id: str, **fields: Any) -> None:
    """Create a customer of account ACCOUNT_ID; print it as the service answered."""
    created = call(options, lambda client: client.customers(account_id).create(**fields))
    print_record(CUSTOMERS, created)


@click.command("create-user", short_help="Create a user of an account or of a customer.")
@click.argument("account_id", metavar="ACCOUNT_ID")
@click.argument("customer_id", metavar="[CUSTOMER_ID]", required=False)
@click.option("--email", required=True, help="The user's e-mail address (the sign-in name).")
@click.option("--display-name", required=True, help="The user's full name.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    metavar="ROLE",
    help="A role to give (repeatable) [default: account.user, or customer.user for a "
    "customer's user]. Licence roles may incur charges.",
)
@accept_charges_option
@click.pass_obj
def create_user(
    options: GlobalOptions,
    account_id: str,
    customer_id: str | None,
    email: str,
    display_name: str,
    roles: tuple[str, ...],
    accept_charges: bool,
) -> None:
    """Create a user of account ACCOUNT_ID, or of its customer CUSTOMER_ID.

    The service sends the new user an activation e-mail at once.
    """
    role_list = roles or (("account.user",) if customer_id is None else ("customer.user",))
    created = call(
        options,
        lambda client: users_of(client, account_id, customer_id).create(
            email=email, display_name=display_name, roles=role_list, accept_charges=accept_charges
        ),
    )
    print_record(USERS, created)


@click.command("update-account", short_help="Replace fields of an account.")
@click.argument("account_id", metavar="ACCOUNT_ID")
@set_option
@accept_charges_option
@click.pass_obj
def update_account(
    options: GlobalOptions, account_id: str, assignments: tuple[str, ...], accept_charges: bool
) -> None:
    """Replace the given fields of account ACCOUNT_ID (a JSON Patch of `replace` operations)."""
    changes = changes_of(assignments)
    call(
        options,
        lambda client: client.accounts.update(account_id, changes, accept_charges=accept_charges),
    )


@click.command("update-customer", short_help="Replace fields of a customer.")
@click.argument("account_id", metavar="ACCOUNT_ID")
@click.argument("customer_id", metavar="CUSTOMER_ID")
@set_option
@accept_charges_option
@click.pass_obj
def update_customer(
    options: GlobalOptions,
    account_id: str,
    customer_id: str,
    assignments: tuple[str, ...],
    accept_charges: bool,
) -> None:
    """Replace the given fields of customer CUSTOMER_ID of account ACCOUNT_ID."""
    changes = changes_of(assignments)
    call(
        options,
        lambda client: client.customers(account_id).update(
            customer_id, changes, accept_charges=accept_charges
        ),
    )


@click.command("update-user", short_help="Replace fields of a user.")
@click.argument("account_id", metavar="ACCOUNT_ID")
@click.argument("user_id", metavar="USER_ID")
@customer_option
@set_option
@accept_charges_option
@click.pass_obj
def update_user(
    options: GlobalOptions,
    account_id: str,
    user_id: str,
    customer_id: str | None,
    assignments: tuple[str, ...],
    accept_charges: bool,
) -> None:
    """Replace the given fields of user USER_ID.

    `--set roles='["customer.user", "customer.user.pbx"]'` REPLACES the user's roles:
    every role not listed is removed.
    """
    changes = changes_of(assignments)
    call(
        options,
        lambda client: users_of(client, account_id, customer_id).update(
            user_id, changes, accept_charges=accept_charges
        ),
    )


@click.command("delete-account", short_help="Deactivate an account and flag it for deletion.")
@click.argument("account_id", metavar="ACCOUNT_ID")
@click.pass_obj
def delete_account(options: GlobalOptions, account_id: str) -> None:
    """Deactivate account ACCOUNT_ID and flag it for deletion."""
    call(options, lambda client: client.accounts.delete(account_id))


@click.command("delete-customer", short_help="Deactivate a customer and flag it for deletion.")
@click.argument("account_id", metavar="ACCOUNT_ID")
@click.argument("customer_id", metavar="CUSTOMER_ID")
@click.pass_obj
def delete_customer(options: GlobalOptions, account_id: str, customer_id: str) -> None:
    """Deactivate customer CUSTOMER_ID of account ACCOUNT_ID and flag it for deletion."""
    call(options, lambda client: client.customers(account_id).delete(customer_id))


@click.command("delete-user", short_help="Delete a user.")
@click.argument("account_id", metavar="ACCOUNT_ID")
@click.argument("user_id", metavar="USER_ID")
@customer_option
@click.pass_obj
def delete_user(
    options: GlobalOptions, account_id: str, user_id: str, customer_id: str | None
) -> None:
    """Delete user USER_ID from the account (or --customer tenant).

    From the user's primary tenant, this deletes the user everywhere.
    """
    call(options, lambda client: users_of(client, account_id, customer_id).delete(user_id))


WRITES = (
    create_account,
    create_customer,
    create_user,
    update_account,
    update_customer,
    update_user,
    delete_account,
    delete_customer,
    delete_user,
)
"""The write commands."""
