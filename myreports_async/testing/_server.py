"""The fake service on a real TCP socket: :class:`FakeServer`."""

from __future__ import annotations

import ssl
from types import TracebackType

from aiohttp import web

from ._service import FakeService

__all__ = ["FakeServer"]


class FakeServer:
    """Runs a :class:`FakeService` on a real TCP socket.

    ``port=0`` picks a free port; :attr:`url` tells which. Handlers of requests whose
    client hung up are cancelled (so a ``delay`` fault does not outlive its client), and
    closing waits at most ``shutdown_timeout`` seconds for requests still in flight.
    With ``ssl`` (a server-side :class:`ssl.SSLContext`, e.g. from a ``trustme`` test CA)
    it serves HTTPS and :attr:`url` starts with ``https://``.

    Example::

        async with FakeServer(FakeService(invoice_count=10)) as server:
            async with MyReportsClient("test-token", base_url=server.url) as client:
                invoice = await client.get_invoice(server.service.invoice_id(0))

    or, without ``async with``::

        server = FakeServer(service)
        await server.start()
        try:
            ...
        finally:
            await server.close()
    """

    def __init__(
        self,
        service: FakeService,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        shutdown_timeout: float = 1.0,
        ssl: ssl.SSLContext | None = None,
    ) -> None:
        self.service = service
        self.ssl = ssl
        self.host = host
        self._requested_port = port
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "not started"
        return f"<FakeServer {where}>"

    @property
    def port(self) -> int:
        """The TCP port the server listens on (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("the FakeServer is not started")
        return self._port

    @property
    def url(self) -> str:
        """The API base URL, e.g. ``"http://127.0.0.1:41234"``: the client's ``base_url``.

        ``https://`` when the server was given an ``ssl`` context.
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.ssl is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def token_url(self) -> str:
        """The OAuth2 token endpoint: ``url + "/connect/token"``."""
        return self.url + "/connect/token"

    async def start(self) -> FakeServer:
        """Bind the socket and start serving; returns the server itself."""
        if self._runner is not None:
            raise RuntimeError("the FakeServer is already started")
        runner = web.AppRunner(
            self.service.app,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=self._shutdown_timeout,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._requested_port, ssl_context=self.ssl)
            await site.start()
            address = runner.addresses[0]
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(address[1])
        return self

    async def close(self) -> None:
        """Stop serving and close every connection. Safe to call twice."""
        runner, self._runner = self._runner, None
        self._port = None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
