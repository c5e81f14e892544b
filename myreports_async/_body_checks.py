"""What a downloaded body must look like, checked as it streams.

Rule 1: a bad body is a ``DecodeError`` (never retried): a summary starts with ``%PDF``;
        a detail starts with ``PK\\x03\\x04`` and ends with a ZIP end-of-central-directory
        record. The first bytes are held back until the magic bytes are checked, so a
        body that is not what it should be never reaches its destination.
Rule 2: a body shorter than its ``Content-Length`` is a cut connection (the session
        retries it), never a success: :meth:`CheckedBody.finish` runs only on a whole body.
Rule 3: a retry starts the body again from its first byte: the checks, the count and
        the progress all start over with the target (:meth:`CheckedBody.restart`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import attrs

from ._destinations import Target
from ._errors import DecodeError

__all__ = ["DETAIL", "SUMMARY", "BodyKind", "CheckedBody", "Progress"]

#: ``progress(bytes_received, total_or_None)``; ``bytes_received`` starts again at 0 when a
#: retry restarts the body.
Progress = Callable[[int, int | None], object]

_ZIP_END_RECORD: Final = b"PK\x05\x06"
_ZIP_END_RECORD_SIZE: Final = 22
_ZIP_MAX_COMMENT: Final = 0xFFFF


@attrs.frozen
class BodyKind:
    """What a download must be: its name in messages, its magic bytes, its end check."""

    name: str
    description: str
    magic: bytes
    zip_end: bool = False  # must end with a ZIP end-of-central-directory record


SUMMARY: Final = BodyKind("summary", "a PDF", b"%PDF")
DETAIL: Final = BodyKind("detail", "a ZIP archive", b"PK\x03\x04", zip_end=True)


class CheckedBody:
    """Receives one body chunk by chunk: checks it, counts it, hands it to the target."""

    def __init__(
        self, kind: BodyKind, target: Target, *, url: str, progress: Progress | None
    ) -> None:
        self._kind = kind
        self._target = target
        self._url = url
        self._progress = progress
        self._expected: int | None = None
        self._reset()

    def _reset(self) -> None:
        self._head = b""  # held back until the magic bytes are checked
        self._checked = False
        self._tail = bytearray()  # the last bytes, for the ZIP end record
        self.received = 0

    def begin(self, expected: int | None) -> None:
        self._expected = expected
        if self._progress is not None:
            self._progress(0, expected)

    def write(self, chunk: bytes) -> None:
        if not self._checked:
            self._head += chunk
            if len(self._head) < len(self._kind.magic):
                return
            self._check_magic()
            chunk, self._head, self._checked = self._head, b"", True
        self._target.write(chunk)
        self.received += len(chunk)
        if self._kind.zip_end:
            self._tail += chunk
            del self._tail[: -(_ZIP_END_RECORD_SIZE + _ZIP_MAX_COMMENT)]
        if self._progress is not None:
            self._progress(self.received, self._expected)

    def finish(self) -> int:
        """The body ended whole (the session checked its length): check its end."""
        if not self._checked:
            self._check_magic()  # a body shorter than the magic bytes: always raises
        if self._kind.zip_end:
            record = self._tail.rfind(_ZIP_END_RECORD)
            if record < 0 or len(self._tail) - record < _ZIP_END_RECORD_SIZE:
                raise self._error(
                    f"{self._kind.name} ZIP is incomplete: it has no end-of-central-directory "
                    "record"
                )
        return self.received

    def restart(self) -> None:
        """Before a retry: the next attempt starts the body from its first byte."""
        self._target.restart()
        self._reset()

    def _check_magic(self) -> None:
        head, kind = self._head, self._kind
        if head.startswith(kind.magic):
            return
        if not head:
            raise self._error(f"{kind.name} is not {kind.description} (the body is empty)")
        raise self._error(f"{kind.name} is not {kind.description} (starts with {head[:16]!r})")

    def _error(self, message: str) -> DecodeError:
        return DecodeError(message, url=self._url)
