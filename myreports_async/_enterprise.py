"""The Enterprise resources: accounts, their users and customers, customer users, PBXs.

Each is a thin :class:`~myreports_async._resources.Collection` that names its arguments
as the API documents them and adds what it alone has (a create with its own fields,
metrics, the activation e-mail); the rules they share are in ``_resources``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence

from yarl import URL

from . import _protocol
from ._codec import Envelopes
from ._enterprise_codec import (
    ACCOUNT_METRICS,
    ACCOUNTS,
    CUSTOMERS,
    PBX_CONNECTIONS,
    USERS,
)
from ._enterprise_models import Account, AccountMetrics, Customer, PbxConnection, User
from ._models import ResumePoint
from ._resources import Collection, create_fields
from ._session import ApiSession

__all__ = ["Accounts", "Customers", "PbxConnections", "Users"]


class Accounts(Collection[Account]):
    """The enterprise's reseller accounts: ``client.accounts``.

    Example::

        account = await client.accounts.create(name="Acme", reference="ERP-1042")
        await client.accounts.update(account.id, {"enabled": True})
    """

    _record = Account
    _noun = "account"

    async def get(self, account_id: str) -> Account:
        """One account (``NotFoundError`` when there is none)."""
        return await self._get("account_id", account_id)

    async def create(
        self,
        *,
        name: str,
        description: str | None = None,
        reference: str | None = None,
        enabled: bool = False,
        timezone: str | None = None,
        country_code: str | None = None,
        accept_charges: bool = False,
    ) -> Account:
        """Create a reseller account; the account the service made.

        ``timezone`` (IANA) and ``country_code`` (ISO 3166) default to the enterprise's.
        Creating may incur charges: without ``accept_charges=True`` the service answers
        402 and :class:`PaymentRequiredError` is raised. If the call fails in a way that
        leaves it unsure whether the account was made, it raises saying so, and is not
        repeated: list the accounts and look for ``reference`` before trying again.
        """
        return await self._create(create_fields(locals()), accept_charges)

    async def update(
        self, account_id: str, changes: Mapping[str, object], *, accept_charges: bool = False
    ) -> None:
        """Change fields of an account: ``changes`` maps field names (``"enabled"``,
        ``"name"``...) to new values, sent as a JSON Patch of ``replace`` operations.

        An unknown field, ``id``, or no change at all raises ``ValueError`` before any
        request.
        """
        await self._update("account_id", account_id, changes, accept_charges)

    async def delete(self, account_id: str) -> None:
        """Deactivate an account and flag it for deletion.

        A repeat after an unsure failure that finds it gone counts as done; a 404 on the
        first attempt raises :class:`NotFoundError`.
        """
        await self._delete("account_id", account_id)

    async def metrics(self, account_id: str) -> AccountMetrics:
        """The account's licence usage, customer by customer.

        Example::

            metrics = await client.accounts.metrics(account_id)
        """
        url = self._item("account_id", account_id, "metrics")
        return ACCOUNT_METRICS.single(await self._http.get_bytes(url), url=str(url))


def _filter_query(filter: str | None) -> dict[str, str] | None:
    """The ``filter`` query parameter of a customer listing (yarl percent-encodes it)."""
    if filter is not None and not isinstance(filter, str):
        raise TypeError("filter must be a str or None")
    return None if filter is None else {"filter": filter}


class Customers(Collection[Customer]):
    """The customers of one reseller account: ``client.customers(account_id)``.

    Example::

        async for customer in client.customers(account_id).iter(filter="ERP-"):
            print(customer.reference, customer.name)
    """

    _record = Customer
    _noun = "customer"

    def iter(
        self,
        *,
        filter: str | None = None,
        page_size: int = 1000,
        prefetch: int = 4,
        resume: ResumePoint | None = None,
    ) -> AsyncGenerator[Customer, None]:
        """Every customer of the account, or those whose name or reference contains
        ``filter`` (sent as the percent-encoded ``filter`` query parameter). A ``resume``
        point must come from a listing with the same ``filter`` and ``page_size``."""
        listing = self._listing(page_size, _filter_query(filter))
        return listing.records(start_page=0, prefetch=prefetch, resume=resume)

    def iter_resumable(
        self,
        *,
        filter: str | None = None,
        page_size: int = 1000,
        prefetch: int = 4,
        resume: ResumePoint | None = None,
    ) -> AsyncGenerator[tuple[Customer, ResumePoint], None]:
        """Like :meth:`iter`, with the resume point *after* each customer."""
        listing = self._listing(page_size, _filter_query(filter))
        return listing.records_with_points(start_page=0, prefetch=prefetch, resume=resume)

    async def get(self, customer_id: str) -> Customer:
        """One customer (``NotFoundError`` when there is none)."""
        return await self._get("customer_id", customer_id)

    async def create(
        self,
        *,
        name: str,
        description: str | None = None,
        reference: str | None = None,
        enabled: bool = False,
        timezone: str | None = None,
        country_code: str | None = None,
        tenant_profile_type: str | None = None,
        trial_duration: int | None = None,
        features: Mapping[str, int] | None = None,
        sync_acd_agent_with_pbx: bool | None = None,
        send_new_user_email: bool | None = None,
        send_connect_welcome_email: bool | None = None,
        accept_charges: bool = False,
    ) -> Customer:
        """Create a customer tenant of the account; the customer the service made.

        Fields left ``None`` are not sent (the service's defaults apply). Charges and
        unsure failures as for :meth:`Accounts.create`: after one, list the customers
        with ``filter=reference`` before trying again.
        """
        fields = create_fields(locals())
        fields["features"] = None if features is None else dict(features)
        return await self._create(fields, accept_charges)

    async def update(
        self, customer_id: str, changes: Mapping[str, object], *, accept_charges: bool = False
    ) -> None:
        """Change fields of a customer (a JSON Patch of ``replace`` operations).

        The customer PATCH is inferred from the API's other resources: its page is not
        in the published reference.
        """
        await self._update("customer_id", customer_id, changes, accept_charges)

    async def delete(self, customer_id: str) -> None:
        """Deactivate a customer and flag it for deletion (404 rule as
        :meth:`Accounts.delete`)."""
        await self._delete("customer_id", customer_id)


class Users(Collection[User]):
    """The users of an account (``client.account_users(account_id)``) or of a customer
    (``client.customer_users(account_id, customer_id)``).

    At customer level, update, delete and :meth:`send_activation_email` are inferred
    from the account-level pages: the published reference lists only listing, getting
    and creating customer users.

    Example::

        users = client.customer_users(account_id, customer_id)
        user = await users.create(email="ann@example.com", display_name="Ann",
                                  roles=("customer.user", "customer.user.pbx"))
    """

    _record = User
    _noun = "user"
    _paged = False  # the service documents no paging for users

    def __init__(
        self, http: ApiSession, url: URL, envelopes: Envelopes[User], *, default_role: str
    ) -> None:
        super().__init__(http, url, envelopes)
        self._default_role = default_role

    async def get(self, user_id: str) -> User:
        """One user, with its roles (``NotFoundError`` when there is none)."""
        return await self._get("user_id", user_id)

    async def create(
        self,
        *,
        email: str,
        display_name: str,
        roles: Sequence[str] | None = None,
        accept_charges: bool = False,
    ) -> User:
        """Create a user; the service e-mails it an activation link at once.

        ``roles`` defaults to ``("account.user",)`` for an account's users and
        ``("customer.user",)`` for a customer's. Licence roles may incur charges (402
        without ``accept_charges=True``). After an unsure failure, list the users and
        look for ``email`` before trying again.
        """
        if isinstance(roles, str):
            raise TypeError("roles must be a sequence of role names, not one str")
        fields = {
            "email": email,
            "display_name": display_name,
            "roles": [self._default_role] if roles is None else list(roles),
        }
        return await self._create(fields, accept_charges)

    async def update(
        self, user_id: str, changes: Mapping[str, object], *, accept_charges: bool = False
    ) -> None:
        """Change fields of a user (a JSON Patch of ``replace`` operations).

        Careful with ``roles``: a replace sets the user's roles to exactly the ones
        given; every role not listed is removed. Send the whole list (from :meth:`get`)
        with the change in it.
        """
        await self._update("user_id", user_id, changes, accept_charges)

    async def delete(self, user_id: str) -> None:
        """Remove a user from this tenant; from its primary tenant, remove it everywhere
        and delete the user (404 rule as :meth:`Accounts.delete`)."""
        await self._delete("user_id", user_id)

    async def send_activation_email(self, user_id: str) -> None:
        """E-mail the user a new activation link (only from the user's primary tenant:
        elsewhere the service answers 400 ``TenantNotPrimary``).

        Like a create, it is not repeated after an unsure failure (the user would get
        two e-mails).
        """
        await self._http.send_json("POST", self._item("user_id", user_id, "sendActivationEmail"))


class PbxConnections(Collection[PbxConnection]):
    """The PBX connections of a customer: ``client.pbx_connections(account_id, customer_id)``.

    Example::

        pbxs = client.pbx_connections(account_id, customer_id)
        pbx = await pbxs.create("KazooPbxConnectionProfile", name="Main PBX",
                                host_rest="https://rest.example.com",
                                host_websocket="wss://ws.example.com",
                                account_id="12345", api_key=api_key)
        await pbxs.update(pbx.id, {"enabled": True})
    """

    _record = PbxConnection
    _noun = "PBX connection"
    _paged = False  # the service documents no paging for PBX connections

    async def get(self, pbx_id: str) -> PbxConnection:
        """One PBX connection (``NotFoundError`` when there is none)."""
        return await self._get("pbx_id", pbx_id)

    async def create(
        self,
        profile: str,
        *,
        name: str,
        host_rest: str | None = None,
        host_websocket: str | None = None,
        account_id: str | None = None,
        api_key: str | None = None,
        license_key: str | None = None,
        country_code: str | None = None,
        monitor_sub_accounts: bool | None = None,
        accept_charges: bool = False,
    ) -> PbxConnection:
        """Connect a PBX to the customer; ``profile`` is its type,
        ``"KazooPbxConnectionProfile"`` (with ``host_rest``, ``host_websocket``,
        ``account_id``, ``api_key``) or ``"ThreeCxConnectionProfile"`` (with
        ``license_key``). The connection starts disabled; enable it with :meth:`update`.
        Keys are secrets: never logged, masked in errors.
        """
        if not isinstance(profile, str) or not profile:
            raise ValueError("profile must name the PBX type, e.g. 'KazooPbxConnectionProfile'")
        fields = create_fields(locals())
        fields["type"] = fields.pop("profile")
        return await self._create(fields, accept_charges)

    async def update(
        self, pbx_id: str, changes: Mapping[str, object], *, accept_charges: bool = False
    ) -> None:
        """Change fields of a PBX connection (a JSON Patch of ``replace`` operations).

        Any patch restarts the PBX collector, so events may be lost meanwhile: do it out
        of working hours. Enabling it connects to the PBX and starts collecting.
        """
        await self._update("pbx_id", pbx_id, changes, accept_charges)

    async def delete(self, pbx_id: str) -> None:
        """Disconnect the PBX and stop collecting its events (404 rule as
        :meth:`Accounts.delete`)."""
        await self._delete("pbx_id", pbx_id)


def accounts(http: ApiSession, api_root: URL) -> Accounts:
    """``client.accounts``."""
    return Accounts(http, _protocol.enterprise_url(api_root, "accounts"), ACCOUNTS)


def customers(http: ApiSession, api_root: URL, account_id: object) -> Customers:
    """``client.customers(account_id)``."""
    url = _protocol.enterprise_url(api_root, "accounts", ("account_id", account_id), "customers")
    return Customers(http, url, CUSTOMERS)


def account_users(http: ApiSession, api_root: URL, account_id: object) -> Users:
    """``client.account_users(account_id)``."""
    url = _protocol.enterprise_url(api_root, "accounts", ("account_id", account_id), "users")
    return Users(http, url, USERS, default_role="account.user")


def _customer_url(api_root: URL, account_id: object, customer_id: object, what: str) -> URL:
    return _protocol.enterprise_url(
        api_root,
        "accounts",
        ("account_id", account_id),
        "customers",
        ("customer_id", customer_id),
        what,
    )


def customer_users(
    http: ApiSession, api_root: URL, account_id: object, customer_id: object
) -> Users:
    """``client.customer_users(account_id, customer_id)``."""
    url = _customer_url(api_root, account_id, customer_id, "users")
    return Users(http, url, USERS, default_role="customer.user")


def pbx_connections(
    http: ApiSession, api_root: URL, account_id: object, customer_id: object
) -> PbxConnections:
    """``client.pbx_connections(account_id, customer_id)``."""
    url = _customer_url(api_root, account_id, customer_id, "pbxs")
    return PbxConnections(http, url, PBX_CONNECTIONS)
