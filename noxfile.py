"""Developer sessions: ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``, ``nox -s docs``;
the long reliability runs ``nox -s fuzz``, ``nox -s soak`` and ``nox -s dev``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

# The suite's property tests and TLS tests need these beside the `test` extra (they are in
# the `dev` extra too; keep the two in step).
RELIABILITY_TEST_DEPS = ["hypothesis>=6.100", "trustme>=1.1"]


def _expose_pyenv_interpreters() -> None:
    """Put every pyenv-installed CPython on PATH, so nox finds ``python3.10`` and friends
    on machines where pyenv holds them but only one is the global version."""
    try:
        root = subprocess.run(
            ["pyenv", "root"],  # noqa: S607 (found on PATH, like nox's own interpreters)
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return
    versions = Path(root, "versions").glob("3.*")
    bins = sorted(str(p / "bin") for p in versions if (p / "bin").is_dir())
    os.environ["PATH"] = os.pathsep.join([*bins, os.environ.get("PATH", "")])


_expose_pyenv_interpreters()


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite on every supported Python."""
    # examples: the documentation's example programs (FastAPI, SQLite) and their tests.
    session.install("-e", ".[test,examples]", *RELIABILITY_TEST_DEPS)
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def fuzz(session: nox.Session) -> None:
    """The property tests with the ``soak`` Hypothesis profile: 50 times the examples."""
    session.install("-e", ".[test]", *RELIABILITY_TEST_DEPS)
    session.run(
        "pytest",
        "-q",
        "tests/unit/test_fuzz.py",
        "--hypothesis-show-statistics",
        *session.posargs,
        env={"HYPOTHESIS_PROFILE": "soak"},
    )


@nox.session(python="3.11")
def soak(session: nox.Session) -> None:
    """Stream 1,000,000 invoices through ~5% random transient faults; print the tally."""
    session.install("-e", ".[test]", *RELIABILITY_TEST_DEPS)
    session.run(
        "pytest",
        "-q",
        "-s",
        "tests/integration/test_soak.py",
        *session.posargs,
        env={"MYREPORTS_SOAK_INVOICES": "1000000"},
    )


@nox.session(python="3.11")
def dev(session: nox.Session) -> None:
    """The whole suite under ``python -X dev``, warnings as errors, asyncio debug mode."""
    session.install("-e", ".[test,examples]", *RELIABILITY_TEST_DEPS)
    session.run(
        "python",
        "-X",
        "dev",
        "-W",
        "error",
        "-m",
        "pytest",
        "-q",
        *session.posargs,
        env={"PYTHONASYNCIODEBUG": "1"},
    )


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, tests, benchmarks and this file."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation site (MkDocs, strict: any warning fails) into site/."""
    session.install("-e", ".[docs]", "ruff")  # mkdocstrings formats signatures with ruff
    # NO_MKDOCS_2_WARNING: mkdocs-material prints a banner about MkDocs 2.0 otherwise.
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """The listing, join and rate-limit benchmarks; write docs/performance.md and its plots.

    Not in the default sessions: it takes a few minutes and wants a quiet machine.
    Extra arguments go to the benchmark (``nox -s bench -- --quick``).
    """
    session.install("-e", ".[bench]")
    session.run("python", "benchmarks/bench_listing.py", "--write-docs", "--nox", *session.posargs)
    # What joining every invoice to its customer's reference costs (docs/customers.md).
    session.run("python", "benchmarks/bench_join.py", "--write-docs")
    # Rate limits as real gateways set them (the last section of docs/performance.md).
    session.run("python", "benchmarks/bench_rate_limit.py", "--write-docs", "--nox")
