"""The generic Enterprise collection: a URL, the record's envelopes, a noun.

:class:`Collection` lists, gets, creates, updates and deletes; each resource of
``_enterprise`` is a thin subclass that names its arguments as the API documents them
and adds what it alone has. Every request goes through the client's one
:class:`~myreports_async._session.ApiSession`, whose rules decide what a write may
repeat; listings are the invoice listing's :class:`~myreports_async._paging.Listing`.

Rule 1 (charges): ``accept-charges: true`` is sent only on a call made with
        ``accept_charges=True``, never on the client's own initiative: a 402 is the
        caller's to accept.
Rule 2 (arguments): ids, changes and paging arguments are checked when the call is
        made, before any request (``ValueError``/``TypeError``).
Rule 3 (listings): every listing sends ``pageIndex`` and ``pageSize``; those the
        service documents no paging for end when a page repeats the previous one
        (``_paging``, Rule 5).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Final, Generic, TypeVar

from yarl import URL

from . import _protocol
from ._codec import Envelopes
from ._enterprise_codec import create_body, patch_operations
from ._enterprise_models import Account, Customer, PbxConnection, User
from ._models import Page, ResumePoint
from ._paging import Listing
from ._session import ApiSession

__all__ = ["Collection", "create_fields"]

_ACCEPT_CHARGES: Final = {"accept-charges": "true"}


def _charges(accept_charges: object) -> Mapping[str, str] | None:
    """The header that accepts charges, only when the caller asked (Rule 1)."""
    if not isinstance(accept_charges, bool):
        raise TypeError("accept_charges must be True or False")
    return _ACCEPT_CHARGES if accept_charges else None


# A create's arguments that are not fields of the record.
_NOT_FIELDS: Final = frozenset({"self", "accept_charges"})


def create_fields(arguments: Mapping[str, object]) -> dict[str, object]:
    """A create method's fields, from its ``locals()`` taken first thing: each keyword
    argument of a create is a field of its record, under the record's own name (the
    codec maps it to the JSON key), except ``accept_charges``."""
    return {name: value for name, value in arguments.items() if name not in _NOT_FIELDS}


_Record = Account | Customer | User | PbxConnection
R = TypeVar("R", bound=_Record)


def _ids(records: tuple[_Record, ...]) -> list[str]:
    return [record.id for record in records]


class Collection(Generic[R]):
    """One collection of the Enterprise API at ``url``, of records read by ``envelopes``."""

    _record: type[R]
    _noun: str
    _paged = True  # the service documents pageIndex/pageSize for this collection

    def __init__(self, http: ApiSession, url: URL, envelopes: Envelopes[R]) -> None:
        self._http = http
        self._url = url
        self._envelopes = envelopes

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={str(self._url)!r})"

    def _listing(self, page_size: int, query: Mapping[str, str] | None = None) -> Listing[R]:
        """The collection as a :class:`Listing`; its views check their arguments."""
        url, envelopes, extra = self._url, self._envelopes, dict(query or {})

        def params(index: int) -> dict[str, str]:
            return {**_protocol.page_params(page_index=index, page_size=page_size), **extra}

        async def fetch(index: int) -> bytes:
            return await self._http.get_bytes(url, params=params(index))

        def decode(index: int, body: bytes) -> Page[R]:
            return envelopes.page(body, index=index, url=str(url.update_query(params(index))))

        return Listing(
            fetch,
            decode,
            page_size=page_size,
            page_ids=_ids,
            noun=self._noun,
            ends_on_repeat=not self._paged,
        )

    def iter(
        self, *, page_size: int = 1000, prefetch: int = 4, resume: ResumePoint | None = None
    ) -> AsyncGenerator[R, None]:
        """Every record of the collection, in server order, ``prefetch`` pages ahead.

        The listing follows the invoice listing's rules (no silent truncation, drift
        de-duplication by ``id``); ``page_size`` (1..10,000) and ``prefetch`` (1..64) are
        checked here, before any request. ``resume`` continues after the record whose
        :class:`ResumePoint` :meth:`iter_resumable` gave (with the same ``page_size``).

        Example::

            async for account in client.accounts.iter():
                print(account.id, account.name)
        """
        listing = self._listing(page_size)
        return listing.records(start_page=0, prefetch=prefetch, resume=resume)

    def iter_resumable(
        self, *, page_size: int = 1000, prefetch: int = 4, resume: ResumePoint | None = None
    ) -> AsyncGenerator[tuple[R, ResumePoint], None]:
        """Like :meth:`iter`, with the resume point *after* each record.

        Example::

            async for account, point in client.accounts.iter_resumable(resume=saved):
                await store(account, resume_point=point.to_dict())
        """
        listing = self._listing(page_size)
        return listing.records_with_points(start_page=0, prefetch=prefetch, resume=resume)

    def _item(self, name: str, record_id: object, *suffix: str) -> URL:
        return _protocol.enterprise_url(self._url, (name, record_id), *suffix)

    async def _get(self, name: str, record_id: object) -> R:
        url = self._item(name, record_id)
        return self._envelopes.single(await self._http.get_bytes(url), url=str(url))

    async def _create(self, fields: Mapping[str, object], accept_charges: bool) -> R:
        headers = _charges(accept_charges)
        body = create_body(self._record, fields)
        answer = await self._http.send_json("POST", self._url, body=body, headers=headers)
        return self._envelopes.single(answer, url=str(self._url))

    async def _update(
        self, name: str, record_id: object, changes: Mapping[str, object], accept_charges: bool
    ) -> None:
        url = self._item(name, record_id)
        headers = _charges(accept_charges)
        patch = patch_operations(self._record, changes)
        await self._http.send_json("PATCH", url, body=patch, headers=headers)

    async def _delete(self, name: str, record_id: object) -> None:
        await self._http.send_json("DELETE", self._item(name, record_id))
