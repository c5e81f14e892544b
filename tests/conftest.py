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
