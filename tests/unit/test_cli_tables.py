"""The CLI takes its regions, endpoints and exit codes from the library's own tables."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from myreports_async import _protocol
from myreports_async._cli._app import REGIONS, cli
from myreports_async._cli._run import EXIT_CODES, describe_error
from myreports_async._errors import NotFoundError, TransportError
from myreports_async._oauth import DEFAULT_AUTHORIZE_URL, DEFAULT_TOKEN_URL

CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_regions_are_the_clients() -> None:
    assert tuple(sorted(_protocol.REGIONS)) == REGIONS


def test_help_prints_every_exit_code_and_the_endpoints() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for code, meaning in EXIT_CODES:
        assert re.search(rf"^\s+{code}\s+{re.escape(meaning)}$", result.output, re.M), code
    assert DEFAULT_TOKEN_URL in result.output
    login = CliRunner().invoke(cli, ["login", "--help"])
    assert DEFAULT_AUTHORIZE_URL in login.output


def test_docs_list_the_same_exit_codes() -> None:
    documented = [int(m[1]) for m in re.finditer(r"^\| (\d+) \| ", CLI_DOC.read_text(), re.M)]
    assert documented == [code for code, _ in EXIT_CODES]


def test_error_classes_map_to_documented_codes() -> None:
    codes = {code for code, _ in EXIT_CODES}
    assert describe_error(NotFoundError("x", status=404))[1] in codes
    assert describe_error(TransportError("x"))[1] == 5
