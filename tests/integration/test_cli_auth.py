"""``myreports login`` and where the command line takes its credentials from.

Each CLI run is a child process; the fake service runs on the test's loop, and for
``login`` the test plays the browser: it reads the sign-in URL the command prints and
follows it to the command's loopback listener.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest

from myreports_async import FileTokenStore, TokenSet
from myreports_async.testing import FakeServer, FakeService

from .cli_support import CLI, WAIT_S, Result, assert_one_error_line, cli_env, run_cli

CLIENT_ID = "cli-app"
CLIENT_SECRET = "cli-client-s3cret"
REFRESH_TOKEN = "cli-refresh-0001"
STATIC_TOKEN = "test-token"


@pytest.fixture
def service() -> FakeService:
    fake = FakeService(23, seed=11, max_page_size=10, access_tokens=(STATIC_TOKEN,))
    fake.add_oauth_client(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    return fake


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "tokens.json"


@pytest.fixture
def oauth_env(server: FakeServer, store_path: Path, tmp_path: Path) -> dict[str, str]:
    """Client credentials, the fake's endpoints, an explicit store, no static token."""
    return cli_env(
        MYREPORTS_BASE_URL=server.url,
        MYREPORTS_CLIENT_ID=CLIENT_ID,
        MYREPORTS_CLIENT_SECRET=CLIENT_SECRET,
        MYREPORTS_TOKEN_URL=server.token_url,
        MYREPORTS_AUTHORIZE_URL=server.url + "/connect/authorize",
        MYREPORTS_TOKEN_STORE=str(store_path),
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),  # never the user's own default store
    )


def token_statuses(service: FakeService) -> list[int]:
    return [r.status for r in service.requests if r.route == "token"]


def listed_ids(result: Result) -> list[str]:
    return [json.loads(line)["invoice_id"] for line in result.out.splitlines()]


def exists(path: Path) -> bool:
    return path.exists()


def read(path: Path) -> bytes:
    return path.read_bytes()


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)


def save(path: Path, access_token: str, refresh_token: str, *, fresh: bool) -> None:
    expires = datetime.now(timezone.utc) + (timedelta(hours=1) if fresh else -timedelta(hours=1))
    FileTokenStore(path).save(TokenSet(access_token, refresh_token, expires))


async def login_as_browser(
    *args: str, env: dict[str, str], follow: bool = True, before: tuple[str, ...] = ()
) -> tuple[Result, list[tuple[int, str]]]:
    """Run ``myreports [before] login --no-browser``; open the URL it prints, as a browser."""
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *before,
        "login",
        "--no-browser",
        "--redirect-uri",
        "http://127.0.0.1:0/callback",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None
    pages: list[tuple[int, str]] = []
    seen: list[bytes] = []
    try:
        while follow:
            line = await asyncio.wait_for(proc.stderr.readline(), WAIT_S)
            if not line:
                break
            seen.append(line)
            if b"/connect/authorize?" in line:
                async with (
                    aiohttp.ClientSession() as browser,
                    browser.get(line.decode().strip(), allow_redirects=True) as resp,
                ):
                    pages.append((resp.status, await resp.text()))
                break
        out, err = await asyncio.wait_for(proc.communicate(), WAIT_S)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.communicate()
        raise
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), (b"".join(seen) + err).decode()), pages


# -- login ---------------------------------------------------------------------------------


async def test_login_saves_the_tokens_to_the_default_store_and_never_prints_them(
    oauth_env: dict[str, str], service: FakeService, tmp_path: Path
) -> None:
    env = {k: v for k, v in oauth_env.items() if k != "MYREPORTS_TOKEN_STORE"}
    default = tmp_path / "xdg" / "myreports" / "tokens.json"

    result, pages = await login_as_browser(env=env)

    assert result.code == 0, result.err
    assert result.out == f"signed in; tokens saved to {default}\n"
    assert pages == [(200, pages[0][1])]
    assert "You are signed in" in pages[0][1]
    tokens = FileTokenStore(default).load()
    assert tokens is not None
    for secret in (tokens.access_token, tokens.refresh_token, CLIENT_SECRET):
        assert secret not in result.out + result.err
    if os.name == "posix":
        assert stat.S_IMODE(default.stat().st_mode) == 0o600
    assert [r.route for r in service.requests] == ["authorize", "token"]

    # The other commands now sign in from the store, with no token request.
    listing = await run_cli("invoices", env=env)
    assert listing.code == 0, listing.err
    assert listed_ids(listing) == service.invoice_ids()
    assert token_statuses(service) == [200]


async def test_login_store_option_overrides_the_environment(
    oauth_env: dict[str, str], store_path: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.json"

    result, _ = await login_as_browser(
        "--wait", "20", env=oauth_env, before=("--token-store", str(elsewhere))
    )

    assert result.code == 0, result.err
    assert result.out == f"signed in; tokens saved to {elsewhere}\n"
    assert FileTokenStore(elsewhere).load() is not None
    assert not exists(store_path)


async def test_declined_login_exits_3_with_one_line(
    oauth_env: dict[str, str], service: FakeService, store_path: Path
) -> None:
    service.approve_authorization = False

    result, pages = await login_as_browser(env=oauth_env)

    assert result.code == 3
    last = result.err.strip().splitlines()[-1]
    assert last.startswith("error: authentication failed: ")
    assert "access_denied" in last
    assert "Traceback" not in result.err
    assert "not completed" in pages[0][1]
    assert not exists(store_path)


async def test_login_without_client_credentials_is_a_usage_error(
    oauth_env: dict[str, str],
) -> None:
    env = {k: v for k, v in oauth_env.items() if k != "MYREPORTS_CLIENT_SECRET"}

    result, _ = await login_as_browser(env=env, follow=False)

    assert result.code == 2
    assert "myreports login needs MYREPORTS_CLIENT_SECRET" in result.err
    assert "Traceback" not in result.err


# -- where credentials come from -----------------------------------------------------------


async def test_refresh_token_from_the_environment(
    oauth_env: dict[str, str], service: FakeService, store_path: Path
) -> None:
    save(store_path, "stale-access", "stale-refresh", fresh=False)  # must not be used
    env = oauth_env | {"MYREPORTS_REFRESH_TOKEN": REFRESH_TOKEN, "MYREPORTS_TOKEN": "wrong"}
    before = read(store_path)

    result = await run_cli("invoices", env=env)

    assert result.code == 0, result.err
    assert listed_ids(result) == service.invoice_ids()
    assert token_statuses(service) == [200]
    assert read(store_path) == before  # an environment refresh token is not saved


async def test_store_is_refreshed_and_the_rotation_saved(
    oauth_env: dict[str, str], service: FakeService, store_path: Path
) -> None:
    save(store_path, "stale-access", REFRESH_TOKEN, fresh=False)
    env = oauth_env | {"MYREPORTS_TOKEN": "not-this-one"}  # the store comes first

    result = await run_cli("invoices", env=env)

    assert result.code == 0, result.err
    assert listed_ids(result) == service.invoice_ids()
    assert token_statuses(service) == [200]
    saved = FileTokenStore(store_path).load()
    assert saved is not None
    assert saved.refresh_token != REFRESH_TOKEN
    assert saved.access_token != "stale-access"

    # The next run refreshes with the saved (rotated) refresh token.
    save(store_path, "stale-again", saved.refresh_token, fresh=False)
    again = await run_cli("invoice", service.invoice_id(0), env=oauth_env)
    assert again.code == 0, again.err
    assert token_statuses(service) == [200, 200]


async def test_static_token_is_used_when_the_store_has_no_client(
    oauth_env: dict[str, str], service: FakeService, store_path: Path
) -> None:
    save(store_path, "stale-access", REFRESH_TOKEN, fresh=False)
    env = {k: v for k, v in oauth_env.items() if not k.startswith("MYREPORTS_CLIENT_")}

    result = await run_cli(
        "invoice", service.invoice_id(1), env=env | {"MYREPORTS_TOKEN": STATIC_TOKEN}
    )

    assert result.code == 0, result.err
    assert token_statuses(service) == []


async def test_store_without_client_credentials_or_token_is_a_usage_error(
    oauth_env: dict[str, str], store_path: Path
) -> None:
    save(store_path, "a", "r", fresh=True)
    env = {k: v for k, v in oauth_env.items() if k != "MYREPORTS_CLIENT_ID"}

    result = await run_cli("invoices", env=env)

    assert result.code == 2
    assert f"the token store {store_path} needs MYREPORTS_CLIENT_ID" in result.err
    assert "Traceback" not in result.err


async def test_refresh_token_without_client_secret_is_a_usage_error(
    oauth_env: dict[str, str],
) -> None:
    env = {k: v for k, v in oauth_env.items() if k != "MYREPORTS_CLIENT_SECRET"}

    result = await run_cli("invoices", env=env | {"MYREPORTS_REFRESH_TOKEN": REFRESH_TOKEN})

    assert result.code == 2
    assert "MYREPORTS_REFRESH_TOKEN needs MYREPORTS_CLIENT_SECRET" in result.err


async def test_no_credentials_at_all_names_every_way(oauth_env: dict[str, str]) -> None:
    result = await run_cli("invoices", env=oauth_env)

    assert result.code == 2
    assert "myreports login" in result.err
    assert "MYREPORTS_REFRESH_TOKEN" in result.err


async def test_spent_refresh_token_exits_3_with_a_login_hint_and_no_secret(
    oauth_env: dict[str, str], service: FakeService
) -> None:
    service.add_oauth_client(CLIENT_ID, CLIENT_SECRET, "spent-soon")
    env = oauth_env | {"MYREPORTS_REFRESH_TOKEN": "spent-soon"}
    assert (await run_cli("invoice", service.invoice_id(0), env=env)).code == 0

    result = await run_cli("-vv", "invoices", env=env)  # the log lines go to stderr too

    assert result.code == 3
    last = result.err.splitlines()[-1]
    assert last.startswith("error: authentication failed: HTTP 400: invalid_grant")
    assert last.endswith("(the refresh token was refused: sign in again with `myreports login`)")
    assert "POST http://127.0.0.1:" in result.err
    assert "/connect/token (refresh_token) -> HTTP 400 in " in result.err
    assert "Traceback" not in result.err
    for secret in ("spent-soon", CLIENT_SECRET):
        assert secret not in result.err


async def test_wrong_client_secret_exits_3_naming_the_variables(
    oauth_env: dict[str, str],
) -> None:
    env = oauth_env | {
        "MYREPORTS_REFRESH_TOKEN": REFRESH_TOKEN,
        "MYREPORTS_CLIENT_SECRET": "not-the-secret",
    }

    result = await run_cli("--max-attempts", "1", "invoices", env=env)

    assert result.code == 3
    assert_one_error_line(result, "error: authentication failed: HTTP 401: invalid_client")
    assert "MYREPORTS_CLIENT_SECRET" in result.err
    assert "not-the-secret" not in result.err


async def test_unreadable_store_is_one_error_line(
    oauth_env: dict[str, str], store_path: Path
) -> None:
    write(store_path, "{not json")

    result = await run_cli("invoices", env=oauth_env)

    assert result.code == 1
    assert_one_error_line(result, "error: cannot use the token store: token file")
