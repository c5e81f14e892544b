"""What every command shares: the group's options, the client and its credentials, the log
handlers, the progress line and the loop that writes the invoices."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING

import attrs
import click

from myreports_async import (
    Invoice,
    MyReportsClient,
    Page,
    RetryPolicy,
    StaticToken,
    TokenProvider,
)

from ._credentials import (
    Credentials,
    OwningClient,
    load_provider,
)
from ._formats import RecordWriter
from ._output import (
    OutputError,
    Progress,
    RetryLines,
    Tally,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "GlobalOptions",
    "configure_logging",
    "load_auth",
    "make_progress",
    "open_client",
    "write_all",
]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Without -v, a retry is one plain line: "retrying: attempt 1 of 5 for URL failed (...)".
RETRY_FORMAT = "retrying: %(message)s"
#: The client's logger of requests and retries (see docs/cli.md, "Logging").
HTTP_LOGGER = "myreports_async.http"


@attrs.frozen
class GlobalOptions:
    """The group's options, handed to every command."""

    token: str | None = attrs.field(repr=False)
    region: str
    base_url: str | None
    timeout: float
    max_attempts: int
    verbose: int
    credentials: Credentials


# -- set-up --------------------------------------------------------------------------------


def load_auth(options: GlobalOptions) -> TokenProvider:
    """The credentials of API calls, from the options and the environment.

    A refresh token (``MYREPORTS_CLIENT_ID`` + ``MYREPORTS_CLIENT_SECRET`` +
    ``MYREPORTS_REFRESH_TOKEN``), else the token store of ``myreports login`` with the
    client id and secret, else the static ``--token`` / ``MYREPORTS_TOKEN`` (the rule is in
    ``_credentials``).
    """
    return load_provider(options.credentials, timeout=options.timeout)


def open_client(options: GlobalOptions, auth: TokenProvider | str) -> MyReportsClient:
    """A client configured by the group's options; a bad setting is a usage error.

    The client closes the token provider with itself: the command line made it for it.
    """
    try:
        if isinstance(auth, str):
            auth = StaticToken(auth)
        return OwningClient(
            auth,
            region=options.region,
            base_url=options.base_url,
            retry=RetryPolicy(max_attempts=options.max_attempts),
            timeout=options.timeout,
        )
    except ValueError as exc:
        hint = "'--base-url' / MYREPORTS_BASE_URL" if options.base_url else "'--region'"
        raise click.BadParameter(str(exc), param_hint=hint) from None


class _RedactingFormatter(logging.Formatter):
    """Defence in depth: the client never logs a token, and this cuts any that slips by."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self._secrets = tuple(secret for secret in secrets if secret)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text


def configure_logging(
    ctx: click.Context,
    verbose: int,
    *,
    secrets: Iterable[str],
    loggers: Sequence[str],
    retry_lines: bool = False,
) -> None:
    """Send ``loggers`` to stderr at INFO (``-v``) or DEBUG (``-vv``) while ``ctx`` lives.

    Without ``-v``, ``retry_lines`` still shows each retry of the client as one line, so
    a user waiting on a failing service sees what the command is waiting for.
    """
    if verbose:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_RedactingFormatter(LOG_FORMAT, secrets))
        level = logging.INFO if verbose == 1 else logging.DEBUG
    elif retry_lines:
        handler = RetryLines(sys.stderr)
        handler.setFormatter(_RedactingFormatter(RETRY_FORMAT, secrets))
        level = logging.INFO
        loggers = [HTTP_LOGGER]
    else:
        return
    for name in loggers:
        logger = logging.getLogger(name)
        previous = logger.level
        logger.addHandler(handler)
        logger.setLevel(level)

        def restore(logger: logging.Logger = logger, previous: int = previous) -> None:
            logger.removeHandler(handler)
            logger.setLevel(previous)

        ctx.call_on_close(restore)


def make_progress(output: str | None, verbose: int) -> Progress:
    """A progress line on stderr when it is a terminal used for nothing else.

    Not when the invoices themselves go to that terminal (they show the progress, and the
    line would land in the middle of them), nor when log lines are printed there.
    """
    to_stdout = output is None or output == "-"
    show = sys.stderr.isatty() and not verbose and not (to_stdout and sys.stdout.isatty())
    return Progress(sys.stderr if show else None)


async def write_all(
    invoices: AsyncIterator[Invoice],
    writer: RecordWriter[Invoice],
    tally: Tally,
    progress: Progress,
) -> None:
    """Write every invoice, keeping count; whatever happens, the rows held are written."""
    try:
        async for invoice in invoices:
            writer.write(invoice)
            tally.add(invoice)
            progress.update(tally.count)
    except BaseException:
        progress.finish(tally.count, keep=False)
        with contextlib.suppress(OSError, OutputError):
            writer.finish(complete=False)
        raise
    writer.finish(complete=True)
    progress.finish(tally.count, keep=True)


async def counting_pages(
    pages: AsyncIterator[Page[Invoice]], tally: Tally
) -> AsyncGenerator[Invoice, None]:
    async for page in pages:
        tally.pages += 1
        for invoice in page.items:
            yield invoice
