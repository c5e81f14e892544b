"""The ``myreports`` command line: ``invoices``, ``invoice``, ``summary``, ``detail``, ``demo``...

The console script calls :func:`main`; ``python -m myreports_async._cli`` does the same.
Modules, each using only the ones above it:

- ``_run``: the event loop of a command, Ctrl-C, and the errors-to-exit-codes table.
- ``_output``: the record encoding, the ndjson, CSV and table writers, the progress line.
- ``_credentials``: which token provider the options and the environment make.
- ``_setup``: what every command shares (options, client, logging, the write loop).
- ``_billing``: ``invoices``, ``invoice``, ``summary``, ``detail``.
- ``_local``: ``login``, ``demo``, ``fake-server``.
- ``_app``: the click group, its global options and exit-code help, ``main``.
"""

from __future__ import annotations

from ._app import cli, main

__all__ = ["cli", "main"]
