"""Running the ``myreports`` command in a subprocess, for the CLI tests."""

from __future__ import annotations

import asyncio
import os
import sys

import attrs

CLI = (sys.executable, "-m", "myreports_async._cli")
WAIT_S = 20.0  # a generous bound on every wait: a hung CLI fails the test, never the suite
TOKEN = "test-token"


@attrs.frozen
class Result:
    """What a CLI run left: its exit code, stdout (decoded, and as bytes) and stderr."""

    code: int
    out: str
    err: str
    raw: bytes = b""


def cli_env(**settings: str) -> dict[str, str]:
    """The test's environment without any MYREPORTS_* variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYREPORTS_")}
    env.update(settings)
    return env


async def run_cli(*args: str, env: dict[str, str]) -> Result:
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), WAIT_S)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.communicate()
        raise
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8"), out)


def assert_one_error_line(result: Result, starts: str) -> None:
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(starts), result.err
    assert "Traceback" not in result.err
