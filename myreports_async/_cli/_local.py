"""The commands that run on this machine: ``login`` (the browser sign-in), ``demo`` and
``fake-server`` (the embedded fake service)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import shlex
import signal
import time
from typing import TYPE_CHECKING

import click

from myreports_async import (
    Invoice,
    MyReportsClient,
    RetryPolicy,
    authorize_with_browser,
)

from .._login import DEFAULT_REDIRECT_URI
from .._oauth import DEFAULT_AUTHORIZE_URL
from ._billing import output_option, page_size_option, prefetch_option
from ._credentials import (
    DEFAULT_TOKEN_URL,
    client_credentials,
)
from ._formats import INVOICES, RecordWriter, make_writer
from ._output import (
    LineSink,
    Progress,
    Tally,
)
from ._run import CommandError, Interrupted, reporting, run
from ._setup import GlobalOptions, configure_logging, counting_pages, make_progress, write_all

if TYPE_CHECKING:
    from myreports_async.testing import FakeServer

__all__ = ["demo", "fake_server", "login"]

DEMO_TOKEN = "demo-token"  # noqa: S105 (the fake service's token, not a secret)
DEMO_SEED = 2024


#: The fake generates invoices on demand, but a listing of them takes time in proportion:
#: bounded, like every argument that sizes work.
MAX_FAKE_INVOICES = 10_000_000

invoice_count_option = click.option(
    "--invoices",
    "count",
    type=click.IntRange(0, MAX_FAKE_INVOICES),
    default=1000,
    show_default=True,
    help="Invoices in the fake collection.",
)


# -- login ---------------------------------------------------------------------------------


@click.command(short_help="Sign in in a browser and save the tokens to the token store.")
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


@click.command(short_help="List the invoices of an embedded fake service: no credentials.")
@invoice_count_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "ndjson", "csv"]),
    default="table",
    show_default=True,
    help="How to print the invoices.",
)
@page_size_option
@prefetch_option
@output_option
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

    async def main(writer: RecordWriter[Invoice], progress: Progress) -> float:
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
                contextlib.aclosing(counting_pages(pages, tally)) as stream,
            ):
                await write_all(stream, writer, tally, progress)
            return time.perf_counter() - started

    with reporting(invoices_written=lambda: tally.count):
        with LineSink(output) as sink:
            writer = make_writer(fmt, sink, INVOICES)
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


@click.command("fake-server", short_help="Run the fake MyReports service for local development.")
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
@invoice_count_option
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
