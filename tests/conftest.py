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


# --- Event loop: the standard asyncio loop, or uvloop with MYREPORTS_TEST_LOOP=uvloop ---
#
# The library must behave the same on uvloop, whose scheduling differs (prefetched page
# requests reach the server in another order, for one): `.ci/run` runs the whole suite
# once more with MYREPORTS_TEST_LOOP=uvloop. pytest-asyncio's supported way to choose the
# loop is its `pytest_asyncio_loop_factories` hook; it must return a mapping whenever it
# is defined, so it is defined only when a loop other than the default is asked for, and
# the default run stays exactly as pytest-asyncio sets it up.

TEST_LOOP = os.environ.get("MYREPORTS_TEST_LOOP", "asyncio")
if TEST_LOOP not in ("asyncio", "uvloop"):
    raise pytest.UsageError(f"MYREPORTS_TEST_LOOP must be asyncio or uvloop, not {TEST_LOOP!r}")

if TEST_LOOP == "uvloop":
    import asyncio
    import importlib.metadata
    from collections.abc import Callable

    import uvloop

    # The hook below appeared in pytest-asyncio 1.4; older ones reject it as unknown.
    _asyncio_plugin = importlib.metadata.version("pytest-asyncio")
    if tuple(int(part) for part in _asyncio_plugin.split(".")[:2]) < (1, 4):
        raise pytest.UsageError(
            f"MYREPORTS_TEST_LOOP=uvloop needs pytest-asyncio 1.4 or later, not {_asyncio_plugin}"
        )

    def pytest_asyncio_loop_factories(
        config: pytest.Config, item: pytest.Item
    ) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
        """Run every asyncio test and fixture on a fresh uvloop loop."""
        return {"uvloop": uvloop.new_event_loop}

    def pytest_report_header(config: pytest.Config) -> str:
        """Say in the run's header that this is the uvloop run."""
        version = importlib.metadata.version("uvloop")
        return f"event loop: uvloop {version} (MYREPORTS_TEST_LOOP=uvloop)"
