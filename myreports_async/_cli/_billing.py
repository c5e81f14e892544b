"""The commands of the billing data: ``invoices``, ``invoice``, ``summary``, ``detail``."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Literal

import click

from myreports_async import (
    Invoice,
)

from .._validate import MAX_PREFETCH
from ._formats import FORMATS, INVOICES, RecordWriter, make_writer
from ._output import (
    DownloadProgress,
    LineSink,
    OutputError,
    Progress,
    Tally,
)
from ._run import reporting, run
from ._setup import GlobalOptions, load_auth, make_progress, open_client, write_all

if TYPE_CHECKING:
    pass

__all__ = ["detail", "invoice", "invoices", "summary"]


# -- invoices ------------------------------------------------------------------------------

format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="ndjson",
    show_default=True,
    help="ndjson: one JSON object per line; csv: a header, then rows; table: aligned columns.",
)
output_option = click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Write to FILE (created or truncated) instead of standard output.",
)
page_size_option = click.option(
    "--page-size",
    type=click.IntRange(1, 10_000),
    default=1000,
    show_default=True,
    help="Invoices asked for per page (the service may send fewer).",
)
prefetch_option = click.option(
    "--prefetch",
    type=click.IntRange(1, MAX_PREFETCH),
    default=4,
    show_default=True,
    help="Pages requested ahead at once (1: one at a time).",
)


@click.command(short_help="Stream every invoice as ndjson, CSV or a table.")
@format_option
@output_option
@page_size_option
@prefetch_option
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

    async def main(writer: RecordWriter[Invoice], progress: Progress) -> None:
        async with (
            open_client(options, auth) as client,
            contextlib.aclosing(
                client.iter_invoices(page_size=page_size, prefetch=prefetch)
            ) as stream,
        ):
            await write_all(stream, writer, tally, progress)

    with reporting(invoices_written=lambda: tally.count), LineSink(output) as sink:
        writer = make_writer(fmt, sink, INVOICES)
        progress = make_progress(output, options.verbose)
        run(lambda: main(writer, progress))


@click.command(short_help="Print one invoice as a JSON object.")
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
            sink.write(INVOICES.json(found) + "\n")


# -- summary ID, detail ID -----------------------------------------------------------------

_downloadoutput_option = click.option(
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


@click.command(short_help="Download an invoice's summary, a PDF.")
@click.argument("invoice_id", metavar="ID")
@_downloadoutput_option
@click.pass_obj
def summary(options: GlobalOptions, invoice_id: str, output: str) -> None:
    """Download the summary of invoice ID, a PDF, to FILE.

    FILE is written through a temporary file beside it and replaced only once the whole
    PDF has arrived: a failed or interrupted download leaves an existing FILE as it was.
    A progress bar shows on stderr when it is a terminal.
    """
    download_file(options, "summary", invoice_id, output)


@click.command(short_help="Download an invoice's detail, a ZIP of every transaction.")
@click.argument("invoice_id", metavar="ID")
@_downloadoutput_option
@click.pass_obj
def detail(options: GlobalOptions, invoice_id: str, output: str) -> None:
    """Download the detail of invoice ID to FILE: a ZIP holding a JSON and a CSV file.

    FILE is written through a temporary file beside it and replaced only once the whole
    ZIP has arrived: a failed or interrupted download leaves an existing FILE as it was.
    A progress bar shows on stderr when it is a terminal.
    """
    download_file(options, "detail", invoice_id, output)
