"""The ``myreports`` command line: ``invoices``, ``invoice``, ``summary``, ``detail``, ``demo``...

The console script calls :func:`main`; ``python -m myreports_async._cli`` does the same.
Modules, each using only the ones above it:

- ``_run``: the event loop of a command, Ctrl-C, and the errors-to-exit-codes table.
- ``_output``: the record encoding, the ndjson, CSV and table writers, the progress line.
- ``_app``: the click group and its commands.
"""

from __future__ import annotations

from ._app import cli, main

__all__ = ["cli", "main"]
