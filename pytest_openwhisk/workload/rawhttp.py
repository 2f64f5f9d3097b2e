"""A minimal HTTP/1.1 client for the open-loop sender: pre-built requests written on kept-alive connections.

Why not aiohttp here: building a request, acquiring a connection and waking the response's task cost the
loop a few hundred microseconds each, and a burst of responses (a server catching up after a cold-start stall)
queues ahead of the next send (measured: the send-lag tail of the aiohttp loop was its own, not CPU
starvation).
Here a request is bytes prepared once per target (request line, headers with the key, body); sending is one
``transport.write`` on an idle connection, done synchronously where the arrival is due, and a response is
parsed in ``data_received`` (status, ``Content-Length`` / chunked / until-close body, the activation id
header) with no task per request.

One request per connection at a time (no pipelining); a connection goes back to the idle list after a
complete response unless the server said ``Connection: close``. TLS: ``ssl`` is an ``SSLContext`` (CA
verification), or an ``aiohttp.Fingerprint``-like object with ``fingerprint`` bytes (pinned: the peer's
certificate SHA-256 must match, hostname not checked), or True / False (system CAs / no verification).
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl as ssl_module
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

#: (status, activation id header, body) on a response; (0, None, None) plus an error text otherwise
Done = Callable[[int, "str | None", "bytes | None", "str | None"], None]
_ACTIVATION = b"x-openwhisk-activation-id"


def build_request(
    url: str, body: bytes | None, headers: dict[str, str]
) -> tuple[tuple[str, str, int], bytes]:
    """((scheme, host, port), the request's bytes) for a POST of ``body`` to ``url``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url {url!r} is invalid: expected http(s)://host[:port]/path")
    port = parts.port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    host = parts.netloc.rsplit("@", 1)[-1]
    data = body or b""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(data)}"]
    lines += [
        f"{name}: {value}"
        for name, value in headers.items()
        if name.lower() not in ("host", "content-length")
    ]
    return (scheme, parts.hostname, port), ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


class _Connection(asyncio.Protocol):
    """One kept-alive connection; parses one response at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.done: Done | None = None
        self._buffer = bytearray()
        self._reset()

    def _reset(self) -> None:
        self._status = 0
        self._head = False
        self._length: int | None = None
        self._chunked = False
        self._close = False
        self._activation: str | None = None
        self._body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, payload: bytes, done: Done) -> None:
        self.done = done
        self._reset()
        assert self.transport is not None
        self.transport.write(payload)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            self._parse()
        except ValueError as exc:
            self._fail(f"ValueError: bad HTTP response ({exc})")
            if self.transport is not None:
                self.transport.close()

    def _parse(self) -> None:
        buf = self._buffer
        if self.done is None:
            if buf:
                raise ValueError("data while no request was outstanding")
            return
        if not self._head:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > 65536:
                    raise ValueError("header longer than 64 KiB")
                return
            lines = bytes(buf[:end]).split(b"\r\n")
            del buf[: end + 4]
            version, _, rest = lines[0].partition(b" ")
            if not version.startswith(b"HTTP/1."):
                raise ValueError(f"status line {lines[0][:60]!r}")
            self._status = int(rest[:3])
            self._close = version == b"HTTP/1.0"
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name, value = name.strip().lower(), value.strip()
                if name == b"content-length":
                    self._length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    self._chunked = True
                elif name == b"connection":
                    self._close = value.lower() == b"close"
                elif name == _ACTIVATION:
                    self._activation = value.decode("latin-1")
            self._head = True
            if self._status in (204, 304) or 100 <= self._status < 200:
                self._length = 0
        if self._chunked:
            while True:
                end = buf.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(buf[:end]).split(b";", 1)[0], 16)
                if size == 0:
                    trailer = buf.find(b"\r\n\r\n", end)
                    if trailer < 0:
                        return
                    del buf[: trailer + 4]
                    break
                if len(buf) < end + 2 + size + 2:
                    return
                self._body += buf[end + 2 : end + 2 + size]
                del buf[: end + 2 + size + 2]
        elif self._length is not None:
            if len(buf) < self._length:
                return
            self._body = buf[: self._length]
            del buf[: self._length]
        else:  # until the server closes the connection
            self._close = True
            return
        self._complete()

    def _complete(self) -> None:
        done, self.done = self.done, None
        close = self._close
        if close and self.transport is not None:
            self.transport.close()
        if done is not None:
            done(self._status, self._activation, bytes(self._body), None)
        if not close:
            self.pool.release(self)

    def _fail(self, error: str) -> None:
        done, self.done = self.done, None
        if done is not None:
            done(0, None, None, error)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.forget(self)
        if self.done is not None and self._head and self._length is None and not self._chunked:
            self._body += self._buffer  # a body delimited by the end of the connection
            self._complete()
            return
        self._fail(
            f"{type(exc).__name__}: {exc}" if exc else "ConnectionResetError: closed before the response"
        )

    def abort(self) -> None:
        """Drop the connection (its request, if any, is the caller's to record)."""
        self.done = None
        if self.transport is not None:
            self.transport.abort()


class Pool:
    """Kept-alive connections to one ``(scheme, host, port)``; ``request(payload, done)`` sends at once."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        address: tuple[str, str, int],
        ssl: Any,
        connect_timeout_s: float,
    ) -> None:
        self._loop = loop
        self._scheme, self._host, self._port = address
        self._connect_timeout_s = connect_timeout_s
        self._pin: bytes | None = None
        self._ssl: ssl_module.SSLContext | None = None
        if self._scheme == "https":
            pin = getattr(ssl, "fingerprint", None)
            if isinstance(ssl, ssl_module.SSLContext):
                self._ssl = ssl
            else:
                self._ssl = ssl_module.create_default_context()
                if pin is not None or ssl is False:
                    self._ssl.check_hostname = False
                    self._ssl.verify_mode = ssl_module.CERT_NONE
                self._pin = pin
        self._address: tuple[str, int] | None = None  # resolved once (a name would cost a thread hop each)
        self._idle: list[_Connection] = []
        self._all: set[_Connection] = set()
        self._pending: set[asyncio.Task[None]] = set()

    def request(self, payload: bytes, done: Done) -> None:
        """Send ``payload`` now on an idle connection, or as soon as a new one is connected."""
        if self._idle:
            self._idle.pop().send(payload, done)
            return
        task = self._loop.create_task(self._connect_and_send(payload, done))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def warm(self, count: int) -> None:
        """Open up to ``count`` idle connections ahead of the first arrival (no request is sent)."""
        results = await asyncio.gather(*(self._open() for _ in range(count)), return_exceptions=True)
        for conn in results:
            if isinstance(conn, _Connection):
                self.release(conn)

    async def _open(self) -> _Connection:
        kwargs: dict[str, Any] = {}
        if self._ssl is not None:
            kwargs = {"ssl": self._ssl, "server_hostname": self._host}
        if self._address is None:
            infos = await asyncio.wait_for(
                self._loop.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM),
                self._connect_timeout_s,
            )
            sockaddr = infos[0][4]
            self._address = (str(sockaddr[0]), int(sockaddr[1]))
        host, port = self._address
        _, conn = await asyncio.wait_for(
            self._loop.create_connection(lambda: _Connection(self), host, port, **kwargs),
            self._connect_timeout_s,
        )
        if self._pin is not None:
            assert conn.transport is not None
            ssl_object = conn.transport.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
            if der is None or hashlib.sha256(der).digest() != self._pin:
                conn.abort()
                raise ssl_module.SSLError(
                    f"the server's certificate (sha256 {hashlib.sha256(der or b'').hexdigest()[:16]}...) is "
                    "not "
                    f"the pinned one (sha256 {self._pin.hex()[:16]}...)"
                )
        self._all.add(conn)
        return conn

    async def _connect_and_send(self, payload: bytes, done: Done) -> None:
        try:
            conn = await self._open()
        except asyncio.CancelledError:
            raise
        except (OSError, TimeoutError, ssl_module.SSLError) as exc:
            done(0, None, None, f"{type(exc).__name__}: {exc}"[:500])
            return
        conn.send(payload, done)

    def release(self, conn: _Connection) -> None:
        """``conn`` finished its response and stays open: reuse it next."""
        if conn in self._all:
            self._idle.append(conn)

    def forget(self, conn: _Connection) -> None:
        """``conn`` is closed."""
        self._all.discard(conn)
        if conn in self._idle:
            self._idle.remove(conn)

    def close(self) -> None:
        """Abort every connection and pending connect (outstanding requests are the caller's to record)."""
        for task in list(self._pending):
            task.cancel()
        for conn in list(self._all):
            conn.abort()
        self._idle.clear()
        self._all.clear()
