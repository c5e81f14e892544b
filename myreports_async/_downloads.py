"""Invoice downloads: the summary PDF and the detail ZIP, streamed, never whole in memory.

A body goes to its destination as it arrives, ``STREAM_CHUNK_SIZE`` bytes at a time,
checked as it streams; a retry restarts it. Each job has its own module, and this one
composes them::

    download(...)              path or file object -> a Target (_destinations)
      └─ _download(...)        ApiSession.request with a reader and a before_retry hook
           └─ CheckedBody      magic, end record, byte count, progress (_body_checks)
    fetch_detail(...)          _download into a Spool, then in a thread:
                               json_member (_zip_member) -> decode_invoice_detail
    iter_items(...)            _download into a Spool, then json_member -> scan_items
                               (_item_scanner) in small batches on the event loop

The id in the URL was checked by the caller; the size limit of the detail's JSON
member (``max_json_bytes``) is the client's ``max_detail_json_bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncGenerator
from typing import BinaryIO, Final

from yarl import URL

from ._body_checks import DETAIL, SUMMARY, BodyKind, CheckedBody, Progress
from ._codec import decode_invoice_detail
from ._destinations import Spool, Target, file_target, replacing
from ._http import Response
from ._item_scanner import scan_items
from ._models import InvoiceDetail, InvoiceItem
from ._session import ApiSession
from ._transport import body_length, stream_body
from ._zip_member import json_member

__all__ = [
    "DETAIL",
    "ITEMS_SPOOL_MEMORY_BYTES",
    "ITEM_BATCH_SIZE",
    "SPOOL_MEMORY_BYTES",
    "SUMMARY",
    "download",
    "fetch_detail",
    "iter_items",
]

SPOOL_MEMORY_BYTES: Final = 8 * 1024 * 1024
"""How much of a detail ZIP ``get_invoice_detail`` keeps in memory before moving it to an
unnamed file on disk (the decoded invoice is far larger than its ZIP anyway)."""

ITEMS_SPOOL_MEMORY_BYTES: Final = 1024 * 1024
"""The same for ``iter_invoice_items``, whose point is to hold little: 1 MiB."""

ITEM_BATCH_SIZE: Final = 256
"""Items decoded between two yields to the event loop by ``iter_invoice_items``."""

_OCTET_STREAM: Final = "application/octet-stream"


async def _download(
    http: ApiSession,
    url: URL,
    target: Target,
    *,
    kind: BodyKind,
    progress: Progress | None = None,
) -> int:
    """GET ``url`` into ``target`` with retries; return the byte count."""
    body = CheckedBody(kind, target, url=str(url), progress=progress)

    async def read(resp: Response) -> int:
        body.begin(body_length(resp))
        await stream_body(resp, body.write)
        return body.finish()

    return await http.request(url, read, accept=_OCTET_STREAM, before_retry=body.restart)


async def download(
    http: ApiSession,
    url: URL,
    destination: str | os.PathLike[str] | BinaryIO,
    *,
    kind: BodyKind,
    progress: Progress | None = None,
) -> int:
    """Stream ``url`` to a path (through a temporary file beside it) or a file object."""
    if isinstance(destination, (str, os.PathLike)):
        path = os.fspath(destination)
        if not isinstance(path, str):
            raise TypeError("a destination path must be a str or os.PathLike[str]")
        with replacing(path, url=str(url)) as target:
            return await _download(http, url, target, kind=kind, progress=progress)
    target = file_target(destination, url=str(url))
    size = await _download(http, url, target, kind=kind, progress=progress)
    target.flush()
    return size


def _decode_detail_spool(spool: Spool, url: str, max_json_bytes: int) -> InvoiceDetail:
    """The detail from a downloaded ZIP; closes ``spool``. Runs in a worker thread."""
    with (
        contextlib.closing(spool),
        json_member(spool.file, limit=max_json_bytes, url=url) as member,
    ):
        body = member.read_all()
    return decode_invoice_detail(body, url=url)


async def fetch_detail(http: ApiSession, url: URL, *, max_json_bytes: int) -> InvoiceDetail:
    """Download a detail ZIP (spooled) and decode its JSON member."""
    spool = Spool(SPOOL_MEMORY_BYTES)
    try:
        await _download(http, url, spool, kind=DETAIL)
    except BaseException:
        spool.close()
        raise
    # Inflating and decoding a large invoice takes seconds: not on the event loop. The
    # thread owns the spool from here and closes it; the future is shielded so that a
    # cancelled caller never closes the spool under a running thread.
    future = asyncio.get_running_loop().run_in_executor(
        None, _decode_detail_spool, spool, str(url), max_json_bytes
    )
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(_consume_result)
        raise


def _consume_result(future: asyncio.Future[InvoiceDetail]) -> None:
    """Mark a result nobody awaits any more as retrieved (no 'never retrieved' log)."""
    if not future.cancelled():
        future.exception()


async def iter_items(
    http: ApiSession, url: URL, *, max_json_bytes: int
) -> AsyncGenerator[InvoiceItem, None]:
    """Download a detail ZIP (spooled), then yield its items one at a time.

    Decoding happens on the event loop, ``ITEM_BATCH_SIZE`` items at a time, with a yield
    to the loop between batches: no thread ever holds the spool, so stopping early
    closes it at once.
    """
    shown = str(url)
    spool = Spool(ITEMS_SPOOL_MEMORY_BYTES)
    with contextlib.closing(spool):
        await _download(http, url, spool, kind=DETAIL)
        with (
            json_member(spool.file, limit=max_json_bytes, url=shown) as member,
            contextlib.closing(scan_items(member.read, url=shown)) as items,
        ):
            while batch := list(itertools.islice(items, ITEM_BATCH_SIZE)):
                for item in batch:
                    yield item
                await asyncio.sleep(0)
