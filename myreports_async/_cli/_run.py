"""Running a command: its event loop, Ctrl-C, and the one place errors become exit codes.

The exit codes are one table, :data:`EXIT_CODES`: ``myreports --help`` prints it, and a
test holds docs/cli.md to it.

Rule: an expected failure prints one line, ``error: ...``, on stderr and no traceback.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import IO, Any, TypeVar

import click

from myreports_async import (
    AuthenticationError,
    BadRequestError,
    DecodeError,
    MyReportsError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
)

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_CODES",
    "EXIT_INTERRUPTED",
    "CommandError",
    "Interrupted",
    "describe_error",
    "reporting",
    "run",
]

T = TypeVar("T")

EXIT_FAILURE = 1
EXIT_USAGE = 2  # click's own
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_TRANSPORT = 5
EXIT_SERVICE = 6
EXIT_DECODE = 7
EXIT_CHARGES = 8
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

#: Every exit code of the command and what it means.
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "success"),
    (EXIT_FAILURE, "any other MyReports error; the output cannot be written"),
    (EXIT_USAGE, "usage: bad option or argument, missing token"),
    (EXIT_AUTH, "authentication: the token or the sign-in was refused (HTTP 401/403)"),
    (EXIT_NOT_FOUND, "not found (HTTP 404)"),
    (EXIT_TRANSPORT, "transport: host unreachable, connection dropped, timeout"),
    (EXIT_SERVICE, "service: HTTP 5xx, 429 or another 4xx, after retries"),
    (EXIT_DECODE, "decode: the answer is not the documented JSON"),
    (
        EXIT_CHARGES,
        "charges: not carried out, it may incur charges (HTTP 402; see --accept-charges)",
    ),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
    (EXIT_BROKEN_PIPE, "standard output closed by its reader (broken pipe)"),
)

# First match wins: (error class, what the line says, exit code).
_ERROR_TABLE: tuple[tuple[type[MyReportsError], str, int], ...] = (
    (AuthenticationError, "authentication failed", EXIT_AUTH),
    (PermissionDeniedError, "permission denied", EXIT_AUTH),
    (NotFoundError, "not found", EXIT_NOT_FOUND),
    (PaymentRequiredError, "not carried out", EXIT_CHARGES),
    (TransportError, "cannot reach the service", EXIT_TRANSPORT),
    (RateLimitError, "rate limited", EXIT_SERVICE),
    (ServerError, "service error", EXIT_SERVICE),
    (BadRequestError, "request refused", EXIT_SERVICE),
    (DecodeError, "unexpected answer from the service", EXIT_DECODE),
)


def exit_codes_text() -> str:
    """The exit-code table as ``myreports --help`` prints it."""
    return "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES)


class CommandError(click.ClickException):
    """An expected failure: click prints ``{prefix}{message}`` on stderr, exits ``exit_code``."""

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILURE, prefix: str = "error: "):
        super().__init__(message)
        # click declares exit_code a ClassVar, yet reads it from the instance it catches.
        self.exit_code = exit_code  # type: ignore[misc]
        self.prefix = prefix

    def show(self, file: IO[Any] | None = None) -> None:
        line = " ".join(self.format_message().split())  # one line, whatever the message held
        click.echo(f"{self.prefix}{line}", file=file, err=file is None)


class Interrupted(Exception):
    """Ctrl-C (SIGINT) or SIGTERM arrived while a command ran."""


def describe_error(exc: MyReportsError) -> tuple[str, int]:
    """``(what happened, exit code)`` for a client error."""
    for error_class, what, code in _ERROR_TABLE:
        if isinstance(exc, error_class):
            return what, code
    return "request failed", EXIT_FAILURE


def run(
    main: Callable[[], Awaitable[T]],
    *,
    signals: tuple[signal.Signals, ...] = (signal.SIGINT,),
) -> T:
    """``asyncio.run(main())``, where ``signals`` cancel ``main`` and raise :class:`Interrupted`.

    The signal cancels the task at the await it is waiting on, never in the middle of a
    write, so ``async with`` blocks close the client and the output cleanly (Python 3.10's
    ``asyncio.run`` would instead raise KeyboardInterrupt wherever the code happened to be).
    """
    try:
        return asyncio.run(_cancelled_by_signals(main, signals))
    except KeyboardInterrupt:  # before or after the loop, or where signal handlers are missing
        raise Interrupted from None


async def _cancelled_by_signals(
    main: Callable[[], Awaitable[T]], signals: tuple[signal.Signals, ...]
) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    interrupted = False

    def on_signal() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    installed = []
    for signum in signals:
        try:
            loop.add_signal_handler(signum, on_signal)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows; not the main thread
            continue
        installed.append(signum)
    try:
        return await main()
    except asyncio.CancelledError:
        if interrupted:
            raise Interrupted from None
        raise
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


@contextlib.contextmanager
def reporting(*, invoices_written: Callable[[], int] | None = None) -> Iterator[None]:
    """Turn the expected failures of a command into its one line and exit code.

    ``invoices_written()``, for the commands that stream invoices, tells how far the
    command got: ``interrupted after 12 invoices``.
    """
    try:
        yield
    except Interrupted:
        after = "" if invoices_written is None else f" after {invoices_written():,} invoices"
        raise CommandError(f"interrupted{after}", exit_code=EXIT_INTERRUPTED, prefix="") from None
    except MyReportsError as exc:
        what, code = describe_error(exc)
        hint = _auth_hint(exc) if isinstance(exc, AuthenticationError) else ""
        count = 0 if invoices_written is None else invoices_written()
        stopped = f" (stopped after {count:,} invoices)" if count else ""
        told = _CHARGES_LINE.format(url=exc.url) if isinstance(exc, PaymentRequiredError) else exc
        raise CommandError(f"{what}: {told}{hint}{stopped}", exit_code=code) from None
    except BrokenPipeError:
        _silence_stdout()
        raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None


# The library's message names its own argument (accept_charges=True); the CLI names its option.
_CHARGES_LINE = (
    "the request may incur charges (HTTP 402); repeat it with --accept-charges to accept them "
    "({url})"
)


def _auth_hint(exc: AuthenticationError) -> str:
    """What to check, by who refused: the token endpoint names its refusal first."""
    if exc.message.startswith("invalid_grant"):
        return " (the refresh token was refused: sign in again with `myreports login`)"
    if exc.message.startswith(("invalid_client", "unauthorized_client")):
        return " (check MYREPORTS_CLIENT_ID and MYREPORTS_CLIENT_SECRET)"
    if exc.message.startswith(("sign-in", "no sign-in", "the sign-in")):
        return ""
    return " (check the token: --token or MYREPORTS_TOKEN)"


def _silence_stdout() -> None:
    # The reader is gone: point stdout at /dev/null so the interpreter's last flush of
    # sys.stdout does not print "Exception ignored ... BrokenPipeError" on the way out.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
