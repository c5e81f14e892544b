"""The ``myreports`` command group and its commands.

Each command parses its options with click, then runs one coroutine with :func:`run`
inside :func:`reporting`, which turns expected failures into one line and an exit code.
Only the public API of ``myreports_async`` (and ``myreports_async.testing`` for ``demo``
and ``fake-server``) is used here.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import shlex
import signal
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Literal

import attrs
import click

from myreports_async import (
    Invoice,
    MyReportsClient,
    Page,
    RetryPolicy,
    StaticToken,
    TokenProvider,
    __version__,
    authorize_with_browser,
)

from .. import _protocol
from .._login import DEFAULT_REDIRECT_URI
from .._oauth import DEFAULT_AUTHORIZE_URL
from .._validate import MAX_PREFETCH
from ._credentials import (
    DEFAULT_TOKEN_URL,
    Credentials,
    OwningClient,
    client_credentials,
    default_token_store,
    load_provider,
)
from ._output import (
    FORMATS,
    DownloadProgress,
    InvoiceWriter,
    LineSink,
    OutputError,
    Progress,
    RetryLines,
    Tally,
    invoice_json,
    make_writer,
)
from ._run import CommandError, Interrupted, exit_codes_text, reporting, run

if TYPE_CHECKING:
    from myreports_async.testing import FakeServer

__all__ = ["cli", "main"]

REGIONS = tuple(sorted(_protocol.REGIONS))
DEMO_TOKEN = "demo-token"  # noqa: S105 (the fake service's token, not a secret)
DEMO_SEED = 2024
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Without -v, a retry is one plain line: "retrying: attempt 1 of 5 for URL failed (...)".
RETRY_FORMAT = "retrying: %(message)s"
#: The client's logger of requests and retries (see docs/cli.md, "Logging").
HTTP_LOGGER = "myreports_async.http"

EPILOG = f"""\b
Credentials and settings come from the options or the environment:
MYREPORTS_TOKEN, MYREPORTS_REGION, MYREPORTS_BASE_URL. For OAuth refresh tokens:
MYREPORTS_CLIENT_ID + MYREPORTS_CLIENT_SECRET, with MYREPORTS_REFRESH_TOKEN or the
token store that `myreports login` writes (MYREPORTS_TOKEN_STORE).

\b
Exit codes:
{exit_codes_text()}

\b
Try it without credentials:  myreports demo
"""


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
    invoices: AsyncIterator[Invoice], writer: InvoiceWriter, tally: Tally, progress: Progress
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


async def _counting_pages(
    pages: AsyncIterator[Page[Invoice]], tally: Tally
) -> AsyncGenerator[Invoice, None]:
    async for page in pages:
        tally.pages += 1
        for invoice in page.items:
            yield invoice


# -- the group -----------------------------------------------------------------------------


@click.group(
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--token",
    envvar="MYREPORTS_TOKEN",
    show_envvar=True,
    metavar="TOKEN",
    help="Bearer access token. Prefer the environment variable: options show in process lists.",
)
@click.option(
    "--region",
    envvar="MYREPORTS_REGION",
    show_envvar=True,
    type=click.Choice(REGIONS, case_sensitive=False),
    default="na",
    show_default=True,
    help="API region.",
)
@click.option(
    "--base-url",
    envvar="MYREPORTS_BASE_URL",
    show_envvar=True,
    metavar="URL",
    help="API base URL, overriding --region: https://, or http:// to a loopback host only.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds allowed to connect and for each wait for data.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    default=RetryPolicy().max_attempts,
    show_default=True,
    help="Attempts per request, the first included (1: no retry).",
)
@click.option(
    "--client-id",
    envvar="MYREPORTS_CLIENT_ID",
    show_envvar=True,
    metavar="ID",
    help="OAuth client id, for refresh tokens and `myreports login`.",
)
@click.option(
    "--client-secret",
    envvar="MYREPORTS_CLIENT_SECRET",
    show_envvar=True,
    metavar="SECRET",
    help="OAuth client secret. Prefer the environment variable.",
)
@click.option(
    "--refresh-token",
    envvar="MYREPORTS_REFRESH_TOKEN",
    show_envvar=True,
    metavar="TOKEN",
    help="OAuth refresh token (with the client id and secret). Prefer the environment variable.",
)
@click.option(
    "--token-store",
    envvar="MYREPORTS_TOKEN_STORE",
    show_envvar=True,
    metavar="FILE",
    help=f"Token file written by `myreports login` [default: {default_token_store()}].",
)
@click.option(
    "--token-url",
    envvar="MYREPORTS_TOKEN_URL",
    show_envvar=True,
    metavar="URL",
    help=f"OAuth token endpoint [default: {DEFAULT_TOKEN_URL}].",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Log to stderr: -v retries and token refreshes, -vv every request too.",
)
@click.option(
    "--show-retries/--hide-retries",
    default=None,
    help="Print each retry on stderr as one line [default: when stderr is a terminal].",
)
@click.version_option(__version__, prog_name="myreports")
@click.pass_context
def cli(
    ctx: click.Context,
    token: str | None,
    region: str,
    base_url: str | None,
    timeout: float,
    max_attempts: int,
    client_id: str | None,
    client_secret: str | None,
    refresh_token: str | None,
    token_store: str | None,
    token_url: str | None,
    verbose: int,
    show_retries: bool | None,
) -> None:
    """Stream MyReports (Dimensions) billing data: every invoice, as ndjson, CSV or a table."""
    credentials = Credentials(
        token=token or None,
        client_id=client_id or None,
        client_secret=client_secret or None,
        refresh_token=refresh_token or None,
        token_store=token_store or None,
        token_url=token_url or None,
    )
    ctx.obj = GlobalOptions(
        token=token or None,
        region=region.lower(),
        base_url=base_url or None,
        timeout=timeout,
        max_attempts=max_attempts,
        verbose=verbose,
        credentials=credentials,
    )
    configure_logging(
        ctx,
        verbose,
        secrets=credentials.secrets,
        loggers=["myreports_async"],
        retry_lines=sys.stderr.isatty() if show_retries is None else show_retries,
    )


# -- invoices ------------------------------------------------------------------------------

_format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="ndjson",
    show_default=True,
    help="ndjson: one JSON object per line; csv: a header, then rows; table: aligned columns.",
)
_output_option = click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Write to FILE (created or truncated) instead of standard output.",
)
_page_size_option = click.option(
    "--page-size",
    type=click.IntRange(1, 10_000),
    default=1000,
    show_default=True,
    help="Invoices asked for per page (the service may send fewer).",
)
_prefetch_option = click.option(
    "--prefetch",
    type=click.IntRange(1, MAX_PREFETCH),
    default=4,
    show_default=True,
    help="Pages requested ahead at once (1: one at a time).",
)


@cli.command(short_help="Stream every invoice as ndjson, CSV or a table.")
@_format_option
@_output_option
@_page_size_option
@_prefetch_option
@click.pass_obj
def invoices(
    options: GlobalOptions, fmt: str, output: str | None, page_size: int, prefetch: int
) -> None:
    """Stream every invoice, in the service's order.

    Each line is written whole and flushed at once, so a pipe sees invoices as they
    arrive and a file cut short by Ctrl-C holds only complete lines. Money is written as
    an exact decimal (a JSON string in ndjson).
    """
    auth = load_auth(options)
    tally = Tally()

    async def main(writer: InvoiceWriter, progress: Progress) -> None:
        async with (
            open_client(options, auth) as client,
            contextlib.aclosing(
                client.iter_invoices(page_size=page_size, prefetch=prefetch)
            ) as stream,
        ):
            await write_all(stream, writer, tally, progress)

    with reporting(invoices_written=lambda: tally.count), LineSink(output) as sink:
        writer = make_writer(fmt, sink)
        progress = make_progress(output, options.verbose)
        run(lambda: main(writer, progress))


@cli.command(short_help="Print one invoice as a JSON object.")
@click.argument("invoice_id", metavar="ID")
@click.pass_obj
def invoice(options: GlobalOptions, invoice_id: str) -> None:
    """Print invoice ID as one JSON object (the same encoding as `invoices` ndjson)."""
    auth = load_auth(options)

    async def main() -> Invoice:
        async with open_client(options, auth) as client:
            try:
                return await client.get_invoice(invoice_id)
            except ValueError as exc:  # the id itself, checked before any request
                raise click.BadParameter(str(exc), param_hint="'ID'") from None

    with reporting():
        found = run(main)
        with LineSink(None) as sink:
            sink.write(invoice_json(found) + "\n")


# -- summary ID, detail ID -----------------------------------------------------------------

_download_output_option = click.option(
    "-o",
    "--output",
    required=True,
    metavar="FILE",
    help="Write to FILE, replaced only once the download is complete; - for standard output.",
)


def download_file(
    options: GlobalOptions, kind: Literal["summary", "detail"], invoice_id: str, output: str
) -> None:
    """Download the summary or detail of ``invoice_id`` to ``output`` (``-``: stdout)."""
    if not output:
        raise click.BadParameter("must not be empty", param_hint="'--output'")
    to_stdout = output == "-"
    if to_stdout and sys.stdout.isatty():
        raise click.UsageError(
            f"the {kind} is a binary file: give --output FILE, or redirect standard output"
        )
    auth = load_auth(options)
    show = sys.stderr.isatty() and not options.verbose
    progress = DownloadProgress(sys.stderr if show else None)

    async def main() -> int:
        async with open_client(options, auth) as client:
            fetch = (
                client.download_invoice_summary
                if kind == "summary"
                else client.download_invoice_detail
            )
            destination = sys.stdout.buffer if to_stdout else output
            try:
                return await fetch(invoice_id, destination, progress=progress.update)
            except ValueError as exc:  # the id itself, checked before any request
                raise click.BadParameter(str(exc), param_hint="'ID'") from None

    with reporting():
        try:
            run(main)
        except BaseException as exc:
            progress.finish(keep=False)
            if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
                raise OutputError("standard output" if to_stdout else output, exc) from None
            raise
    progress.finish(keep=True)


@cli.command(short_help="Download an invoice's summary, a PDF.")
@click.argument("invoice_id", metavar="ID")
@_download_output_option
@click.pass_obj
def summary(options: GlobalOptions, invoice_id: str, output: str) -> None:
    """Download the summary of invoice ID, a PDF, to FILE.

    FILE is written through a temporary file beside it and replaced only once the whole
    PDF has arrived: a failed or interrupted download leaves an existing FILE as it was.
    A progress bar shows on stderr when it is a terminal.
    """
    download_file(options, "summary", invoice_id, output)


@cli.command(short_help="Download an invoice's detail, a ZIP of every transaction.")
@click.argument("invoice_id", metavar="ID")
@_download_output_option
@click.pass_obj
def detail(options: GlobalOptions, invoice_id: str, output: str) -> None:
    """Download the detail of invoice ID to FILE: a ZIP holding a JSON and a CSV file.

    FILE is written through a temporary file beside it and replaced only once the whole
    ZIP has arrived: a failed or interrupted download leaves an existing FILE as it was.
    A progress bar shows on stderr when it is a terminal.
    """
    download_file(options, "detail", invoice_id, output)


# -- login ---------------------------------------------------------------------------------


@cli.command(short_help="Sign in in a browser and save the tokens to the token store.")
@click.option(
    "--redirect-uri",
    default=DEFAULT_REDIRECT_URI,
    show_default=True,
    metavar="URI",
    help="Loopback redirect URI registered for the client (port 0: any free port).",
)
@click.option(
    "--authorize-url",
    envvar="MYREPORTS_AUTHORIZE_URL",
    show_envvar=True,
    default=DEFAULT_AUTHORIZE_URL,
    show_default=True,
    metavar="URL",
    help="OAuth authorization endpoint.",
)
@click.option(
    "--no-browser",
    is_flag=True,
    help="Only print the sign-in URL; do not start a browser.",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Seconds to wait for the browser to come back.",
)
@click.pass_obj
def login(
    options: GlobalOptions, redirect_uri: str, authorize_url: str, no_browser: bool, wait: float
) -> None:
    """Sign in to MyReports in a browser, then save the tokens to the token store.

    Needs MYREPORTS_CLIENT_ID and MYREPORTS_CLIENT_SECRET (or --client-id and
    --client-secret). The store (--token-store, MYREPORTS_TOKEN_STORE, else the default
    path) is then used by the other commands, and every refreshed token is saved back to
    it. The tokens are never printed.
    """
    creds = options.credentials
    client_id, client_secret = client_credentials(creds, "myreports login")
    store = creds.store()

    def show_url(url: str) -> None:
        click.echo(
            f"Open this URL in a browser on this machine to sign in:\n\n    {url}\n", err=True
        )

    async def main() -> None:
        tokens = await authorize_with_browser(
            client_id=client_id,
            client_secret=client_secret,
            authorize_url=authorize_url,
            token_url=creds.token_url or DEFAULT_TOKEN_URL,
            redirect_uri=redirect_uri,
            open_browser=show_url if no_browser else None,
            timeout=wait,
            retry=RetryPolicy(max_attempts=options.max_attempts),
        )
        store.save(tokens)

    with reporting():
        try:
            run(main)
        except ValueError as exc:  # a URL or redirect URI that may not be used
            raise click.UsageError(str(exc)) from None
        except OSError as exc:
            raise CommandError(f"cannot save the tokens to {store.path}: {exc}") from None
    click.echo(f"signed in; tokens saved to {store.path}")


# -- demo ----------------------------------------------------------------------------------


@cli.command(short_help="List the invoices of an embedded fake service: no credentials.")
@click.option(
    "--invoices",
    "count",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Invoices in the fake collection.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "ndjson", "csv"]),
    default="table",
    show_default=True,
    help="How to print the invoices.",
)
@_page_size_option
@_prefetch_option
@_output_option
@click.pass_obj
def demo(
    options: GlobalOptions,
    count: int,
    fmt: str,
    page_size: int,
    prefetch: int,
    output: str | None,
) -> None:
    """List the invoices of an embedded fake service: no credentials, no network.

    Starts the fake MyReports service on a free loopback port, streams its invoices
    through the real client, prints them, then a summary on stderr. The fake caps pages
    at a quarter of --page-size, so the client's handling of short pages shows.
    """
    from myreports_async.testing import FakeServer, FakeService

    tally = Tally()
    cap = max(1, page_size // 4)

    async def main(writer: InvoiceWriter, progress: Progress) -> float:
        service = FakeService(count, seed=DEMO_SEED, max_page_size=cap, access_tokens=(DEMO_TOKEN,))
        async with FakeServer(service, host="127.0.0.1", port=0) as server:
            started = time.perf_counter()
            async with (
                MyReportsClient(
                    DEMO_TOKEN,
                    base_url=server.url,
                    retry=RetryPolicy(max_attempts=options.max_attempts),
                    timeout=options.timeout,
                ) as client,
                contextlib.aclosing(
                    client.iter_invoice_pages(page_size=page_size, prefetch=prefetch)
                ) as pages,
                contextlib.aclosing(_counting_pages(pages, tally)) as stream,
            ):
                await write_all(stream, writer, tally, progress)
            return time.perf_counter() - started

    with reporting(invoices_written=lambda: tally.count):
        with LineSink(output) as sink:
            writer = make_writer(fmt, sink)
            elapsed = run(lambda: main(writer, progress=make_progress(output, options.verbose)))
        rate = tally.count / elapsed if elapsed > 0 else 0.0
        pages = f"{tally.pages:,} page{'' if tally.pages == 1 else 's'}"
        capped = f"the server capped pages at {cap:,}; {page_size:,} asked"
        click.echo(
            f"demo: {tally.count:,} invoices, total value {tally.total:,f}, "
            f"{pages} ({capped}), {elapsed:.3f} s, {rate:,.0f} invoices/s",
            err=True,
        )


# -- fake-server ---------------------------------------------------------------------------


def _loopback_host(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """The host to bind, refused unless it is a loopback address."""
    if value.lower() == "localhost":
        # One address, so port 0 gives one port (localhost may resolve to two families).
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise click.BadParameter(
            f"{value!r} is not a loopback address: the fake service listens only on "
            "127.0.0.0/8, ::1 or localhost"
        )
    return str(address)


@cli.command("fake-server", short_help="Run the fake MyReports service for local development.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    callback=_loopback_host,
    help="Loopback address to listen on.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="TCP port; 0 picks a free one (the URL printed tells which).",
)
@click.option(
    "--invoices",
    "count",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Invoices in the fake collection.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Selects the fake data.")
@click.option(
    "--max-page-size",
    type=click.IntRange(min=1),
    default=None,
    show_default="none",
    help="Server-side cap on the page size.",
)
@click.option(
    "--token",
    "token",
    default=DEMO_TOKEN,
    show_default=True,
    help="The bearer token the fake service accepts.",
)
@click.pass_obj
def fake_server(
    options: GlobalOptions,
    host: str,
    port: int,
    count: int,
    seed: int,
    max_page_size: int | None,
    token: str,
) -> None:
    """Run the fake MyReports service until Ctrl-C, for local development."""
    from myreports_async.testing import FakeServer, FakeService

    async def main() -> None:
        service = FakeService(count, seed=seed, max_page_size=max_page_size, access_tokens=(token,))
        server = FakeServer(service, host=host, port=port)
        try:
            await server.start()
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        try:
            _announce(server, token)
            await _forever()
        finally:
            await server.close()

    ctx = click.get_current_context()
    configure_logging(ctx, options.verbose, secrets=(), loggers=["aiohttp.access"])
    with reporting():
        try:
            run(main, signals=(signal.SIGINT, signal.SIGTERM))
        except Interrupted:
            click.echo("fake service stopped", err=True)


def _announce(server: FakeServer, token: str) -> None:
    service = server.service
    cap = "none" if service.max_page_size is None else f"{service.max_page_size:,}"
    click.echo(
        f"fake MyReports service at {server.url} "
        f"({service.invoice_count:,} invoices, seed {service.seed}, page-size cap {cap})"
    )
    command = (
        f"MYREPORTS_BASE_URL={shlex.quote(server.url)} "
        f"MYREPORTS_TOKEN={shlex.quote(token)} myreports invoices"
    )
    click.echo(f"try: {command}")
    click.echo("stop with Ctrl-C")


async def _forever() -> None:
    await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``myreports`` command line (the console script's entry point)."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="myreports")
