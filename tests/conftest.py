"""Shared test set-up: the aioresponses shim for aiohttp 3.14, and canned payloads."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.streams import StreamReader

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "examples"
"""The service reference's documented payloads (``shared/examples`` beside the clone)."""


def _install_aioresponses_shim() -> None:
    """Make aioresponses 0.7.9 build responses that aiohttp 3.14 accepts.

    aiohttp 3.14 added a required ``stream_writer`` argument to ``ClientResponse`` and
    asserts in ``pause_reading()`` for large bodies; aioresponses (pnuckowski/aioresponses
    issue #289, fixes unreleased in PRs #288/#292) knows neither. The shim switches on only
    when the installed aiohttp has the new argument, so 3.13 keeps working untouched.
    Remove it once a fixed aioresponses release exists.
    """
    params = inspect.signature(aiohttp.ClientResponse.__init__).parameters
    if "stream_writer" not in params:
        return
    import aioresponses.core as core
    from aiohttp.client_proto import ResponseHandler

    class _NoWriter:
        output_size = 0

    class _ShimResponse(aiohttp.ClientResponse):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", _NoWriter())
            super().__init__(*args, **kwargs)

    def stream_reader_factory(loop: Any = None) -> StreamReader:
        protocol = ResponseHandler(loop=loop)
        return StreamReader(protocol, limit=2**30, loop=loop)

    setattr(core, "ClientResponse", _ShimResponse)  # noqa: B010 (not re-exported)
    setattr(core, "stream_reader_factory", stream_reader_factory)  # noqa: B010


_install_aioresponses_shim()


@pytest.fixture
def examples() -> Path:
    """The folder of documented payloads."""
    assert EXAMPLES.is_dir(), f"shared examples not found at {EXAMPLES}"
    return EXAMPLES


@pytest.fixture
def mocked() -> Iterator[Any]:
    """aioresponses as a context manager (its decorator does not work under pytest)."""
    from aioresponses import aioresponses

    with aioresponses() as m:
        yield m


def _load_hypothesis_profile() -> None:
    """``ci`` (the default): a few seconds in all; ``soak`` (``nox -s fuzz``): many more.

    Property tests scale their example counts with :func:`fuzz_examples`.
    """
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:  # the test extra alone (users' plugin tests): fuzz tests skip
        return
    common: dict[str, Any] = {
        "deadline": None,  # I/O and event loops: timing varies, hangs are caught by timeouts
        "database": None,  # no .hypothesis/ directory in the checkout
        "suppress_health_check": [HealthCheck.too_slow],
    }
    settings.register_profile("ci", **common)
    settings.register_profile("soak", **common, print_blob=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


_load_hypothesis_profile()

FUZZ_SCALE = 50 if os.environ.get("HYPOTHESIS_PROFILE") == "soak" else 1


def fuzz_examples(ci: int) -> int:
    """How many examples a property test runs: ``ci`` normally, 50 times that in a soak."""
    return ci * FUZZ_SCALE
