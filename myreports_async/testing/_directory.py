"""The fake's tenant directory: accounts, customers, their users and PBX connections.

:class:`TenantDirectory` is the state the Enterprise routes (``_enterprise_routes``)
serve and change, and what tests read to check what a client did. Its records are the
camelCase JSON objects of the API (as the service's reference documents them).

Rules:

1. The tree is enterprise -> accounts -> customers -> PBX connections. Users belong to
   tenants (accounts and customers): each has one primary tenant and may be listed in
   others; in a customer's list, a user whose primary tenant is elsewhere has
   ``isParent: true``.
2. Listings keep insertion order: seeded records first, then the created ones.
3. Each view has the fields the documentation shows for it: a list item (accounts and
   customers: seven fields; users: no ``roles``), one item (every stored field; for
   accounts and customers the schema's other fields are [inferred]), a create's echo.
   PBX connections show every field everywhere (the list's four documented fields plus
   the create's, [inferred]).
4. Deleting a tenant deletes what hangs under it: an account its customers, their PBX
   connections and the users whose primary tenant goes. Deleting a user from its
   primary tenant deletes it everywhere; from another tenant, only unlists it there
   (the service's Delete User page).
5. Metrics are computed from the state when asked, so they always agree with it
   (``_metrics``).
6. Records created here get seeded ids (:func:`~._tenants.new_id`), never reused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Final, Literal

from ._data import InvoiceFactory, customers_named
from ._metrics import account_metrics
from ._tenants import (
    ACCOUNT_USER_ROLE,
    CUSTOMER_USER_ROLE,
    date_created,
    enterprise_tenant_id,
    new_id,
    pbx_instance_id,
    seeded_account,
    seeded_customer,
    seeded_pbx,
    seeded_user,
)

__all__ = ["TenantDirectory", "View", "directory_factory"]

View = Literal["list", "one", "created"]

_TENANT_LIST: Final = (
    "id",
    "name",
    "description",
    "enabled",
    "parentTenantId",
    "reference",
    "dateCreated",
)
_TENANT_CREATED: Final = ("id", "name", "description", "enabled", "parentTenantId")
_USER_LIST: Final = ("id", "displayName", "email", "primaryTenant")
_USER_CREATED: Final = (*_USER_LIST, "roles")


def _pick(record: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {key: record[key] for key in keys if key in record}


def _copy(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy a caller may change without changing the state (lists and dicts inside)."""
    return {k: list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v
            for k, v in record.items()}  # fmt: skip


class TenantDirectory:
    """The Enterprise state of a :class:`~myreports_async.testing.FakeService`.

    ``service.directory`` is the one instance; tests read it to set up and to check what
    a client did. Read methods return copies in the shape the service answers (camelCase
    JSON objects), so comparing with what a client decoded is direct. Unknown ids raise
    ``KeyError``.

    Seeded from the service's ``seed``: ``accounts`` accounts (account 0 is the reseller
    the invoice details name), customers that are the invoices' customers (the same
    ``tenantId`` and name, each with a distinct ``reference`` like ``"ERP-00017"``) dealt
    round-robin over the accounts, ``users_per_tenant`` users per account and per
    customer, and ``pbxs_per_customer`` PBX connections (Kazoo or 3CX) per customer.

    Example::

        directory = service.directory
        account_id = directory.accounts()[0]["id"]
        customer = directory.add_customer(account_id, name="Acme Dental", reference="ERP-9")
        directory.add_pbx(customer["id"], {"_type": "TeamsPbxConnectionProfile", "name": "T"})
        references = {c["id"]: c["reference"] for c in directory.customers(account_id)}
    """

    def __init__(
        self,
        *,
        seed: int,
        accounts: int,
        customers: int,
        users_per_tenant: int,
        pbxs_per_customer: int,
    ) -> None:
        self.seed = seed
        self.enterprise_tenant_id = enterprise_tenant_id(seed)
        """Every account's ``parentTenantId``."""
        self.activation_emails: list[str] = []
        """Ids of the users an activation email was sent to, in order (creates included)."""
        self._accounts: dict[str, dict[str, Any]] = {}
        self._customers: dict[str, dict[str, Any]] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._members: dict[str, list[str]] = {}  # tenant id -> user ids, listing order
        self._pbxs: dict[str, dict[str, Any]] = {}
        self._created = 0
        self._seed(accounts, customers, users_per_tenant, pbxs_per_customer)

    def _seed(self, accounts: int, customers: int, users: int, pbxs: int) -> None:
        for number in range(accounts):
            account = seeded_account(self.seed, number)
            self._accounts[account["id"]] = account
            self._members[account["id"]] = []
            domain = account["name"].split()[0].lower() + ".example"
            for j in range(users):
                self._list_user(
                    seeded_user(self.seed, account["id"], j, domain=domain, customer=False)
                )
        account_ids = list(self._accounts)
        factory = InvoiceFactory(self.seed)
        for number in range(customers):
            customer = seeded_customer(factory, number, account_ids[number % len(account_ids)])
            self._customers[customer["id"]] = customer
            self._members[customer["id"]] = []
            domain = factory.customer(number).domain
            for j in range(users):
                self._list_user(
                    seeded_user(self.seed, customer["id"], j, domain=domain, customer=True)
                )
            for j in range(pbxs):
                pbx = seeded_pbx(self.seed, customer, j)
                self._pbxs[pbx["id"]] = pbx

    def _list_user(self, user: dict[str, Any]) -> None:
        self._users[user["id"]] = user
        self._members[user["primaryTenant"]].append(user["id"])

    def _next_id(self) -> str:
        self._created += 1
        return new_id(self.seed, self._created)

    # -- reading: views (rule 3) -----------------------------------------------------------

    def accounts(self) -> list[dict[str, Any]]:
        """Every account as the listing answers it, in listing order."""
        return [_pick(a, _TENANT_LIST) for a in self._accounts.values()]

    def account(self, account_id: str, view: View = "one") -> dict[str, Any]:
        """One account as ``GET /accounts/{id}`` answers it (or as ``view`` shows it)."""
        return self._tenant_view(self._accounts[account_id], view)

    def customers(self, account_id: str) -> list[dict[str, Any]]:
        """The customers of an account as the listing answers them, in listing order."""
        self._check(self._accounts, account_id)
        return [
            _pick(c, _TENANT_LIST)
            for c in self._customers.values()
            if c["parentTenantId"] == account_id
        ]

    def customer(self, customer_id: str, view: View = "one") -> dict[str, Any]:
        """One customer as ``GET .../customers/{id}`` answers it (or as ``view`` shows it)."""
        return self._tenant_view(self._customers[customer_id], view)

    def users(self, tenant_id: str) -> list[dict[str, Any]]:
        """The users listed in an account or a customer tenant (no ``roles``, as listed)."""
        return [self.user(u, tenant_id, "list") for u in self._members[tenant_id]]

    def user(
        self, user_id: str, tenant_id: str | None = None, view: View = "one"
    ) -> dict[str, Any]:
        """One user as listed in ``tenant_id`` (default: its primary tenant), with roles."""
        record = self._users[user_id]
        tenant = record["primaryTenant"] if tenant_id is None else tenant_id
        keys = _USER_LIST if view == "list" else _USER_CREATED
        shown = _copy(_pick(record, keys))
        if tenant in self._customers and view != "created":
            shown["isParent"] = record["primaryTenant"] != tenant
        return shown

    def pbxs(self, customer_id: str) -> list[dict[str, Any]]:
        """The PBX connections of a customer, every field (rule 3)."""
        self._check(self._customers, customer_id)
        return [_copy(p) for p in self._pbxs.values() if p["tenantId"] == customer_id]

    def pbx(self, pbx_id: str) -> dict[str, Any]:
        """One PBX connection, every field."""
        return _copy(self._pbxs[pbx_id])

    @staticmethod
    def _check(table: Mapping[str, object], record_id: str) -> None:
        if record_id not in table:
            raise KeyError(record_id)

    def _tenant_view(self, record: dict[str, Any], view: View) -> dict[str, Any]:
        keys = {"list": _TENANT_LIST, "created": _TENANT_CREATED, "one": record}[view]
        return _copy(_pick(record, keys))

    # -- finding (the routes ask) ----------------------------------------------------------

    def has_account(self, account_id: str) -> bool:
        """Whether the account exists."""
        return account_id in self._accounts

    def has_customer(self, account_id: str, customer_id: str) -> bool:
        """Whether the customer exists under that account."""
        found = self._customers.get(customer_id)
        return found is not None and found["parentTenantId"] == account_id

    def lists_user(self, tenant_id: str, user_id: str) -> bool:
        """Whether the user is listed in that tenant."""
        return user_id in self._members.get(tenant_id, ())

    def has_pbx(self, customer_id: str, pbx_id: str) -> bool:
        """Whether the PBX connection exists under that customer."""
        found = self._pbxs.get(pbx_id)
        return found is not None and found["tenantId"] == customer_id

    def find_pbx_instance(self, instance_id: str) -> dict[str, Any] | None:
        """The PBX connection whose instance (Kazoo account id, 3CX key) is ``instance_id``."""
        for pbx in self._pbxs.values():
            if pbx_instance_id(pbx) == instance_id:
                return _copy(pbx)
        return None

    # -- adding ------------------------------------------------------------------------------

    def add_account(self, *, name: str, **fields: Any) -> dict[str, Any]:
        """Add an account (``fields`` in camelCase, e.g. ``reference``); return every field."""
        account = {
            "id": self._next_id(),
            "name": name,
            "description": None,
            "enabled": False,
            "parentTenantId": self.enterprise_tenant_id,
            "reference": None,
            "dateCreated": _now(),
            "timezone": None,
            "countryCode": None,
            **fields,
        }
        self._accounts[account["id"]] = account
        self._members[account["id"]] = []
        return _copy(account)

    def add_customer(self, account_id: str, *, name: str, **fields: Any) -> dict[str, Any]:
        """Add a customer to an account (``fields`` in camelCase); return every field."""
        parent = self._accounts[account_id]
        customer = {
            "id": self._next_id(),
            "name": name,
            "description": None,
            "enabled": False,
            "parentTenantId": account_id,
            "reference": None,
            "dateCreated": _now(),
            "timezone": parent["timezone"],
            "countryCode": parent["countryCode"],
            "features": {"agent": 0, "device": 0},
            "syncAcdAgentWithPbx": False,
            "sendNewUserEmail": True,
            "sendConnectWelcomeEmail": True,
            "tenantProfileType": "TenantProfileType_analytics",
            "trialDuration": 0,
            **fields,
        }
        self._customers[customer["id"]] = customer
        self._members[customer["id"]] = []
        return _copy(customer)

    def add_user(
        self,
        tenant_id: str,
        *,
        email: str,
        display_name: str,
        roles: Iterable[str] = (),
        primary_tenant: str | None = None,
    ) -> dict[str, Any]:
        """Add a user to a tenant's list; return it as that tenant shows it, with roles.

        The tenant's base role (``account.user`` or ``customer.user``) is always given, as
        the service does on create. ``primary_tenant`` makes another tenant (the account
        above, say) the user's primary one: the user is listed in both, shows
        ``isParent: true`` in a customer's list, and an activation email sent from
        ``tenant_id`` is refused with ``TenantNotPrimary``.

        Example::

            user = directory.add_user(customer_id, email="a@example.com", display_name="A",
                                      roles=["customer.user.pbx"], primary_tenant=account_id)
            assert user["isParent"]
        """
        primary = tenant_id if primary_tenant is None else primary_tenant
        if tenant_id not in self._members or primary not in self._members:
            raise KeyError(tenant_id if tenant_id not in self._members else primary)
        base = CUSTOMER_USER_ROLE if tenant_id in self._customers else ACCOUNT_USER_ROLE
        wanted = list(dict.fromkeys(roles))
        user_id = self._next_id()
        user: dict[str, Any] = {
            "id": user_id,
            "displayName": display_name,
            "email": email,
            "primaryTenant": primary,
            "roles": wanted if base in wanted else [base, *wanted],
        }
        self._users[user_id] = user
        self._members[tenant_id].append(user_id)
        if primary != tenant_id:
            self._members[primary].append(user_id)
        return self.user(user_id, tenant_id)

    def add_pbx(self, customer_id: str, profile: Mapping[str, Any]) -> dict[str, Any]:
        """Add a PBX connection of any ``_type`` (unknown ones too) to a customer.

        ``id``, ``tenantId``, ``countryCode`` (the customer's) and ``enabled`` (false) are
        filled in unless ``profile`` has them. Returns every field.
        """
        customer = self._customers[customer_id]
        pbx = {
            "_type": profile.get("_type"),
            "id": self._next_id(),
            "tenantId": customer_id,
            "countryCode": customer["countryCode"],
            "enabled": False,
            **profile,
        }
        self._pbxs[pbx["id"]] = pbx
        return _copy(pbx)

    def send_activation_email(self, user_id: str) -> None:
        """Record an activation email to the user (the routes check the tenant first)."""
        self._check(self._users, user_id)
        self.activation_emails.append(user_id)

    # -- changing ----------------------------------------------------------------------------

    def update(self, record_id: str, changes: Mapping[str, Any]) -> None:
        """Replace fields (camelCase names) of the account, customer, user or PBX ``record_id``."""
        for table in (self._accounts, self._customers, self._users, self._pbxs):
            if record_id in table:
                table[record_id].update(changes)
                return
        raise KeyError(record_id)

    def delete_account(self, account_id: str) -> None:
        """Delete an account and everything under it (rule 4)."""
        del self._accounts[account_id]
        for customer in [
            c for c, r in self._customers.items() if r["parentTenantId"] == account_id
        ]:
            self.delete_customer(customer)
        self._drop_tenant(account_id)

    def delete_customer(self, customer_id: str) -> None:
        """Delete a customer, its PBX connections and the users only it holds (rule 4)."""
        del self._customers[customer_id]
        for pbx in [p for p, r in self._pbxs.items() if r["tenantId"] == customer_id]:
            del self._pbxs[pbx]
        self._drop_tenant(customer_id)

    def _drop_tenant(self, tenant_id: str) -> None:
        for user_id in list(self._members[tenant_id]):
            self.delete_user(tenant_id, user_id)
        del self._members[tenant_id]

    def delete_user(self, tenant_id: str, user_id: str) -> None:
        """Unlist a user from a tenant; from its primary tenant, delete it (rule 4)."""
        if self._users[user_id]["primaryTenant"] != tenant_id:
            self._members[tenant_id].remove(user_id)
            return
        del self._users[user_id]
        for members in self._members.values():
            if user_id in members:
                members.remove(user_id)

    def delete_pbx(self, pbx_id: str) -> None:
        """Delete a PBX connection."""
        del self._pbxs[pbx_id]

    # -- metrics (rule 5) ------------------------------------------------------------------

    def metrics(self, account_id: str) -> dict[str, Any]:
        """The account's metrics as ``GET /accounts/{id}/metrics`` answers them (``data``)."""
        return account_metrics(self, account_id)


def directory_factory(
    *,
    seed: int,
    accounts: int,
    customers_per_account: int | None,
    users_per_tenant: int,
    pbxs_per_customer: int,
) -> Callable[[int], TenantDirectory]:
    """Checks the sizes now; returns the maker of the directory for an invoice count.

    Its customers are those the invoices name: with ``customers_per_account=None`` every
    one of them (so each invoice joins to a customer), else that many per account, the
    first of the same customers.
    """
    for name, value in (
        ("accounts", accounts),
        ("customers_per_account", customers_per_account or 0),
        ("users_per_tenant", users_per_tenant),
        ("pbxs_per_customer", pbxs_per_customer),
    ):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value!r}")

    def make(invoice_count: int) -> TenantDirectory:
        if customers_per_account is None:
            customers = customers_named(invoice_count) if accounts else 0
        else:
            customers = accounts * customers_per_account
        return TenantDirectory(
            seed=seed,
            accounts=accounts,
            customers=customers,
            users_per_tenant=users_per_tenant,
            pbxs_per_customer=pbxs_per_customer,
        )

    return make


def _now() -> str:
    return date_created(datetime.now(timezone.utc).replace(tzinfo=None))
