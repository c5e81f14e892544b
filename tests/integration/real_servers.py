"""Real nginx and squid for the tests, run in the foreground on 127.0.0.1.

Each runs from a private temporary folder (configuration, pid file, logs, temp files:
nothing is written elsewhere), listens on a free port of 127.0.0.1, and is stopped by
:meth:`RealServer.stop` (SIGTERM, then SIGKILL) however the test ended.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
import pytest

START_TIMEOUT_S = 15.0  # generous: the machine may be busy; a hang fails, never blocks
STOP_TIMEOUT_S = 10.0  # squid takes about two seconds to shut down, even when told not to wait
SBIN = ("/usr/sbin", "/sbin")  # where Debian puts nginx and squid, often off a user's PATH


def find_binary(name: str, package: str) -> str:
    """The path of ``name``, or skip the test saying how to install it."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    found = shutil.which(name, path=path)
    if found is None:
        pytest.skip(f"{name} not installed: apt-get install {package}")
    return found


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def accepts_connections(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


@attrs.define
class RealServer:
    """A started server process, its port and its folder."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    folder: Path
    logs: Sequence[Path]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        """All of the server's logs, as text (missing ones count as empty)."""
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def stop(self) -> None:
        """Stop the process and wait for it: SIGTERM, then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(
    name: str, argv: Sequence[str], *, port: int, folder: Path, logs: Sequence[Path]
) -> RealServer:
    """Run ``argv`` and return once it accepts connections on ``port``.

    Fails the test with the server's logs if it exits or does not listen in time.
    """
    stderr = folder / f"{name}.stderr"
    with stderr.open("wb") as sink:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(  # noqa: S603 (a fixed binary and arguments of our own)
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=sink
        )
    server = RealServer(name, process, port, folder, [*logs, stderr])
    deadline = time.monotonic() + START_TIMEOUT_S
    while not accepts_connections(port):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"{name} did not start:\n{server.log_text()}")
        time.sleep(0.02)  # polling for the port: the process gives no other sign
    return server


# -- nginx ---------------------------------------------------------------------------------

NGINX_CONF = """\
daemon off;
master_process off;  # one process, in the foreground, stopped by SIGTERM
pid {folder}/nginx.pid;
lock_file {folder}/nginx.lock;
error_log {folder}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {folder}/access.log combined;
    log_format connections '$connection $connection_requests $status "$request_uri" $gzip_ratio';
    access_log {folder}/connections.log connections;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;

    gzip on;
    gzip_types application/json;
    gzip_proxied any;
    gzip_min_length 1;
    keepalive_requests 7;
    keepalive_timeout 1s;

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass {upstream};
            # nginx compresses, not the upstream: ask it for plain bodies.
            proxy_set_header Accept-Encoding "";
            proxy_read_timeout {read_timeout};
            # One upstream, and no second try by nginx: retries are the client's job.
            proxy_next_upstream off;
        }}
    }}
}}
"""


@contextlib.contextmanager
def run_nginx(upstream: str, folder: Path, *, read_timeout: str = "1s") -> Iterator[RealServer]:
    """nginx as a reverse proxy to ``upstream``, configured as :data:`NGINX_CONF` says.

    Logs: ``access.log`` (the default combined format), ``connections.log`` (connection
    number, requests served on it so far, status, URI, gzip ratio) and ``error.log``.
    """
    binary = find_binary("nginx", "nginx-light")
    port = free_port()
    conf = folder / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(folder=folder, port=port, upstream=upstream, read_timeout=read_timeout)
    )
    logs = [folder / "access.log", folder / "connections.log", folder / "error.log"]
    # -e: the error log before the configuration is read, in the folder too.
    argv = [binary, "-p", f"{folder}/", "-c", str(conf), "-e", str(folder / "error.log")]
    server = start("nginx", argv, port=port, folder=folder, logs=logs)
    try:
        yield server
    finally:
        server.stop()


# -- squid ---------------------------------------------------------------------------------

SQUID_CONF = """\
http_port 127.0.0.1:{port}
visible_hostname myreports-test-proxy
{user}
pid_filename {folder}/squid.pid
access_log stdio:{folder}/access.log
cache_log {folder}/cache.log
cache_store_log none
coredump_dir {folder}
netdb_filename none
pinger_enable off
cache deny all
# Names resolve from this file; any other lookup goes to 127.0.0.1, never off the machine.
hosts_file {folder}/hosts
dns_nameservers 127.0.0.1
shutdown_lifetime 0 seconds
# Only destinations on the loopback network: the tests never send traffic elsewhere.
acl to_loopback dst 127.0.0.0/8
http_access allow to_loopback
http_access deny all
"""


def squid_user() -> str | None:
    """The user squid drops to when started as root (it refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    import pwd

    for name in ("proxy", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    pytest.skip("squid needs an unprivileged user (proxy or nobody) to run as")


@contextlib.contextmanager
def run_squid(hosts: Sequence[str]) -> Iterator[RealServer]:
    """squid as a forward proxy that resolves each of ``hosts`` to 127.0.0.1 itself.

    Its folder is a fresh one under the system's temporary directory, owned by the user
    squid runs as: pytest's ``tmp_path`` is private to the user running the tests.
    """
    binary = find_binary("squid", "squid")
    user = squid_user()
    folder = Path(tempfile.mkdtemp(prefix="myreports-squid-"))
    try:
        if user is not None:
            shutil.chown(folder, user, user)
        (folder / "hosts").write_text("".join(f"127.0.0.1 {host}\n" for host in hosts))
        port = free_port()
        conf = folder / "squid.conf"
        setting = f"cache_effective_user {user}" if user else ""
        conf.write_text(SQUID_CONF.format(port=port, folder=folder, user=setting))
        logs = [folder / "access.log", folder / "cache.log"]
        # -N: no daemon, one process; stopped by SIGTERM.
        server = start(
            "squid", [binary, "-N", "-f", str(conf)], port=port, folder=folder, logs=logs
        )
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
