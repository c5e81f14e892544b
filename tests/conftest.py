"""Shared test set-up: canned payloads, the aioresponses fixture, Hypothesis profiles."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parent / "data"
"""The service reference's documented payloads, copied into the repository (tests/data)."""


@pytest.fixture
def examples() -> Path:
    """The folder of documented payloads."""
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
