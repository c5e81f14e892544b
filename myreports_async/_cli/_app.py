"""The ``myreports`` command group: its global options, its help, and ``main``.

Each command (``_billing``, ``_local``) parses its options with click, then runs one
coroutine with :func:`._run.run` inside :func:`._run.reporting`, which turns expected
failures into one line and an exit code. The regions, endpoints and exit codes come from
the library's own tables.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from myreports_async import (
    RetryPolicy,
    __version__,
)

from .. import _protocol
from ._billing import detail, invoice, invoices, summary
from ._credentials import (
    DEFAULT_TOKEN_URL,
    Credentials,
    default_token_store,
)
from ._local import demo, fake_server, login
from ._run import exit_codes_text
from ._setup import GlobalOptions, configure_logging
from ._tenants import LISTINGS
from ._writes import WRITES

if TYPE_CHECKING:
    pass

__all__ = ["cli", "main"]

REGIONS = tuple(sorted(_protocol.REGIONS))

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
    """Stream MyReports (Dimensions) billing data, and run the Enterprise resources.

    Invoices as ndjson, CSV or a table; accounts, customers, users and PBX connections
    listed the same way, and changed by explicit commands.
    """
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


for _command in (invoices, invoice, summary, detail, *LISTINGS, *WRITES, login, demo, fake_server):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``myreports`` command line (the console script's entry point)."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="myreports")
