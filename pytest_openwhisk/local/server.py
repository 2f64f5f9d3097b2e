"""The embedded OpenWhisk controller (aiohttp) and :class:`LocalOpenWhisk`, which runs it in a thread.

Stack: aiohttp on uvloop when uvloop is installed (``docs/local.md`` has the measurement behind the choice).
:class:`Server` is the async lifecycle shared by the thread form and the ``serve`` CLI: bind (port 0 -> a
real port), start the invoker, and on stop kill every runtime process before closing the listener.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from typing import Any

from aiohttp import web

from pytest_openwhisk.errors import BackendError, StartupTimeout
from pytest_openwhisk.local import manifest
from pytest_openwhisk.local.api_actions import ActionsApi
from pytest_openwhisk.local.api_activations import ActivationsApi
from pytest_openwhisk.local.api_misc import MiscApi, evict_path
from pytest_openwhisk.local.api_packages import PackagesApi
from pytest_openwhisk.local.api_rules import RulesApi
from pytest_openwhisk.local.api_triggers import TriggersApi
from pytest_openwhisk.local.api_web import WebApi
from pytest_openwhisk.local.config import LocalConfig
from pytest_openwhisk.local.controller import Controller
from pytest_openwhisk.local.httpapi import Authenticator, make_middleware, max_body_bytes
from pytest_openwhisk.local.types import ControllerError, InvokerProtocol
from pytest_openwhisk.loops import new_event_loop

log = logging.getLogger("pytest_openwhisk.local")


def create_app(ctl: Controller) -> web.Application:
    """The controller's aiohttp application."""
    app = web.Application(
        middlewares=[make_middleware(Authenticator(ctl.config.auth))],
        client_max_size=max_body_bytes(ctl.limits),
    )
    app.add_routes(
        [
            *ActionsApi(ctl).routes(),
            *ActivationsApi(ctl).routes(),
            *PackagesApi(ctl).routes(),
            *TriggersApi(ctl).routes(),
            *RulesApi(ctl).routes(),
            *WebApi(ctl).routes(),
            *MiscApi(ctl).routes(),
        ]
    )
    return app


def new_loop() -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's when installed (:func:`pytest_openwhisk.loops.new_event_loop`)."""
    return new_event_loop(uvloop=True)


def apihost_of(host: str, port: int, tls: bool = False) -> str:
    """``http[s]://host:port`` (IPv6 hosts in brackets)."""
    scheme = "https" if tls else "http"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def tls_context(config: LocalConfig) -> ssl.SSLContext | None:
    """The server's TLS context from ``config.tls_cert``/``tls_key`` (None: plain HTTP).

    Raises ``ValueError`` naming the setting and the fix when only one is given or the pair does not load."""
    cert, key = config.tls_cert, config.tls_key
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        given, missing = ("tls_cert", "tls_key") if cert is not None else ("tls_key", "tls_cert")
        raise ValueError(f"LocalConfig.{given} is set but {missing} is not; give both PEM files or neither")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            f"cannot load the TLS pair tls_cert={cert!r}, tls_key={key!r}: {exc}; give a PEM certificate "
            "and its unencrypted PEM private key"
        ) from None
    return context


class Server:
    """Controller + invoker on the current event loop."""

    def __init__(self, config: LocalConfig, invoker: InvokerProtocol | None = None) -> None:
        self.config = config
        manifest.check_allowed(config.kinds)
        self._tls = tls_context(config)
        self._own_invoker = invoker is None
        if invoker is None:
            from pytest_openwhisk.local.invoker import Invoker

            invoker = Invoker(config)
        self.controller = Controller(config, invoker)
        self._runner: web.AppRunner | None = None
        self.port = config.port
        self.apihost = apihost_of(config.host, config.port, self._tls is not None)

    @property
    def invoker(self) -> InvokerProtocol:
        return self.controller.invoker

    async def start(self) -> None:
        """Bind the listener, then start the invoker (it learns the apihost for ``__OW_API_HOST``)."""
        self._runner = web.AppRunner(
            create_app(self.controller),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=2.0,
            auto_decompress=False,  # read_body decodes Content-Encoding itself (bad bodies: 400, not 500)
        )
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.config.host, self.config.port, backlog=1024, ssl_context=self._tls
        )
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.apihost = apihost_of(self.config.host, self.port, self._tls is not None)
        if self._own_invoker and hasattr(self.invoker, "api_host"):
            self.invoker.api_host = self.apihost
        await self.invoker.start()

    async def stop(self) -> None:
        """Kill the runtimes (in-flight activations end as recorded errors), then close the listener."""
        self.controller.closing = True
        try:
            await self.invoker.stop()
            await self.controller.drain(timeout=5.0)
            self.controller.activations.close()
        finally:
            if self._runner is not None:
                runner, self._runner = self._runner, None
                await runner.cleanup()


class LocalOpenWhisk:
    """The embedded OpenWhisk in a daemon thread with its own event loop.

    ``with LocalOpenWhisk(LocalConfig(port=0)) as ow:`` binds before ``__enter__`` returns; ``ow.apihost``,
    ``ow.auth``, ``ow.namespace`` and ``ow.port`` are then valid. ``__exit__`` kills every runtime process and
    stops the server. ``invoker`` replaces the real container pool (tests of pure REST behaviour).
    """

    def __init__(
        self,
        config: LocalConfig | None = None,
        *,
        invoker: InvokerProtocol | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        self.config = config or LocalConfig(port=0)
        self.auth = self.config.auth
        self.namespace = self.config.namespace
        self.port = self.config.port
        self.apihost = apihost_of(self.config.host, self.port, self.config.tls_cert is not None)
        self._invoker = invoker
        self._startup_timeout = startup_timeout
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.server: Server | None = None

    def __repr__(self) -> str:
        return f"LocalOpenWhisk(apihost={self.apihost!r}, namespace={self.namespace!r})"

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            if not self._ready.is_set():
                self._error = exc
            else:
                log.exception("embedded OpenWhisk stopped with an error")
        finally:
            self._ready.set()
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = Server(self.config, self._invoker)
        try:
            await server.start()
            self.server = server
            self.port, self.apihost = server.port, server.apihost
            self._ready.set()
            await self._stop.wait()
        finally:
            self.server = None
            await server.stop()

    def __enter__(self) -> LocalOpenWhisk:
        if self._thread is not None:
            raise BackendError("this LocalOpenWhisk is already started; create a new one")
        self._loop = new_loop()
        self._thread = threading.Thread(target=self._run, name="openwhisk-local", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._startup_timeout):
            self.__exit__(None, None, None)
            raise StartupTimeout(f"embedded OpenWhisk not ready after {self._startup_timeout:g}s")
        if self._error is not None:
            self._thread.join(10)
            error = self._error
            raise BackendError(
                f"embedded OpenWhisk failed to start on {self.config.host}:{self.config.port}: "
                f"{type(error).__name__}: {error}"
            ) from error
        return self

    def __exit__(self, *exc: object) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        stop = self._stop
        if stop is not None:
            loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        if thread.is_alive():
            log.error("embedded OpenWhisk thread did not stop within 30 s")

    def _call(self, coro: Any, timeout: float = 60.0) -> Any:
        if self._loop is None or self._loop.is_closed() or self.server is None:
            coro.close()
            raise BackendError("the embedded OpenWhisk is not running; use it as a context manager")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def evict(self, path: str | None = None) -> int:
        """Destroy the warm containers of ``path`` (``guest/name`` or ``name``; all when None).

        The next invocation of that action is a cold start."""
        try:
            normalized = evict_path(path, self.namespace)
        except ControllerError as exc:
            raise ValueError(f"evict path {path!r}: {exc.message}") from None
        return int(self._call(self._evict(normalized)))

    async def _evict(self, path: str | None) -> int:
        assert self.server is not None
        return await self.server.invoker.evict(None, path)

    def pool_stats(self) -> dict[str, Any]:
        """The invoker's pool state (containers by state, memory, settings, isolation)."""
        return dict(self._call(self._stats()))

    async def _stats(self) -> dict[str, Any]:
        assert self.server is not None
        return self.server.invoker.stats()
