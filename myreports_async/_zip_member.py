"""The detail ZIP's one JSON member, read as untrusted input with a size limit.

Rule 1: nothing from an archive is ever extracted to a path; member names are never
        used as file names.
Rule 2: the archive must hold exactly one ``.json`` member, neither encrypted nor
        compressed other than stored or deflated; anything else is a ``DecodeError``.
Rule 3: the member may inflate to at most ``limit`` bytes (the client's
        ``max_detail_json_bytes``). A header that says more is refused before a byte is
        inflated, and the limit is enforced again while inflating, so a zip bomb whose
        header lies costs at most the limit.
Rule 4: a corrupt archive or member (bad CRC, broken deflate data) is a ``DecodeError``.
"""

from __future__ import annotations

import contextlib
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Final

from ._errors import DecodeError

__all__ = ["DEFAULT_MAX_DETAIL_JSON_BYTES", "MemberReader", "json_member"]

DEFAULT_MAX_DETAIL_JSON_BYTES: Final = 512 * 1024 * 1024
"""The default of ``MyReportsClient(max_detail_json_bytes=...)``: 512 MiB."""

_CORRUPT: Final = (zipfile.BadZipFile, zlib.error, EOFError)


def _size_text(size: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def _too_large(limit: int, *, url: str, size: int | None = None) -> DecodeError:
    stated = f" ({size} bytes uncompressed)" if size is not None else ""
    return DecodeError(f"detail JSON member exceeds the {_size_text(limit)} limit{stated}", url=url)


def _corrupt(name: str, exc: BaseException, *, url: str) -> DecodeError:
    return DecodeError(f"detail ZIP member {name!r} is corrupt ({exc})", url=url)


class MemberReader:
    """Reads a ZIP member, inflating at most ``limit`` bytes; corruption is a DecodeError."""

    def __init__(self, member: IO[bytes], *, name: str, limit: int, url: str) -> None:
        self._member = member
        self._name = name
        self._limit = limit
        self._url = url
        self._total = 0

    def read(self, size: int) -> bytes:
        try:
            data = self._member.read(size)
        except _CORRUPT as exc:
            raise _corrupt(self._name, exc, url=self._url) from None
        self._total += len(data)
        if self._total > self._limit:
            raise _too_large(self._limit, url=self._url)
        return data

    def read_all(self) -> bytes:
        # One read of limit + 1: zipfile inflates no more than asked, so a bomb stops here.
        return self.read(self._limit + 1)


def _names(infos: list[zipfile.ZipInfo]) -> str:
    shown = ", ".join(repr(info.filename[:100]) for info in infos[:5])
    return shown + (", ..." if len(infos) > 5 else "")


def _json_member_info(archive: zipfile.ZipFile, *, limit: int, url: str) -> zipfile.ZipInfo:
    """The archive's one ``.json`` member, checked before a byte of it is inflated."""
    infos = archive.infolist()
    members = [i for i in infos if not i.is_dir() and i.filename.lower().endswith(".json")]
    if not members:
        held = f" (it holds {_names(infos)})" if infos else " (it is empty)"
        raise DecodeError(f"detail ZIP holds no JSON file{held}", url=url)
    if len(members) > 1:
        raise DecodeError(
            f"detail ZIP holds {len(members)} JSON files ({_names(members)}); expected one",
            url=url,
        )
    info = members[0]
    if info.flag_bits & 0x1:
        raise DecodeError(f"detail JSON member {info.filename[:100]!r} is encrypted", url=url)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise DecodeError(
            f"detail JSON member {info.filename[:100]!r} uses an unsupported compression "
            f"method ({info.compress_type})",
            url=url,
        )
    if info.file_size > limit:
        raise _too_large(limit, url=url, size=info.file_size)
    return info


@contextlib.contextmanager
def json_member(file: IO[bytes], *, limit: int, url: str) -> Iterator[MemberReader]:
    """Open the detail ZIP in ``file`` and its JSON member, for reading only."""
    file.seek(0)
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile as exc:
        raise DecodeError(f"detail is not a readable ZIP archive ({exc})", url=url) from None
    with archive:
        info = _json_member_info(archive, limit=limit, url=url)
        name = info.filename[:100]
        try:
            member = archive.open(info)
        except _CORRUPT as exc:
            raise _corrupt(name, exc, url=url) from None
        with member:
            yield MemberReader(member, name=name, limit=limit, url=url)
