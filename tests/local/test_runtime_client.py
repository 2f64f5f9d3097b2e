"""The invoker's HTTP client to a runtime (``container.RuntimeConnection``): any split, limits, faults."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable

import pytest

from pytest_openwhisk.local import container
from pytest_openwhisk.local.container import Response, RuntimeConnection, RuntimeGone

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    return await reader.readexactly(length)


async def _with_runtime(answer: Answer, client: Callable[[RuntimeConnection], Awaitable[object]]) -> object:
    """Serve ``answer`` on a Unix socket and run ``client`` on a connection to it."""
    with tempfile.TemporaryDirectory() as root:
        path = os.path.join(root, "s")
        server = await asyncio.start_unix_server(answer, path)
        try:
            _, conn = await asyncio.get_running_loop().create_unix_connection(RuntimeConnection, path)
            try:
                return await client(conn)
            finally:
                conn.close()
        finally:
            server.close()


def _run(answer: Answer, client: Callable[[RuntimeConnection], Awaitable[object]]) -> object:
    return asyncio.run(_with_runtime(answer, client))


def test_response_split_byte_by_byte_and_keep_alive() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):
            body = await _read_request(reader)
            reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
                len(body),
                body,
            )
            for i in range(len(reply)):  # one byte per write
                writer.write(reply[i : i + 1])
                await writer.drain()

    async def client(conn: RuntimeConnection) -> list[Response]:
        first = await conn.request("/run", b'{"a":1}', 5)
        assert conn.usable
        return [first, await conn.request("/run", b'{"b":22}', 5)]

    first, second = _run(answer, client)  # type: ignore[misc]
    assert (first.status, first.body, first.length) == (200, b'{"a":1}', 7)
    assert (second.status, second.body) == (200, b'{"b":22}')


def test_statuses_and_no_content_length() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b'HTTP/1.1 502 Bad Gateway\r\nContent-Length: 11\r\n\r\n{"e":"bad"}')
        await _read_request(reader)
        writer.write(b"HTTP/1.0 404\r\n\r\n")  # no reason phrase, no Content-Length: empty body
        await writer.drain()

    async def client(conn: RuntimeConnection) -> list[Response]:
        return [await conn.request("/run", b"{}", 5), await conn.request("/init", b"{}", 5)]

    bad, missing = _run(answer, client)  # type: ignore[misc]
    assert (bad.status, bad.body) == (502, b'{"e":"bad"}')
    assert (missing.status, missing.body, missing.length) == (404, b"", 0)


def test_a_body_over_the_limit_is_cut_and_the_connection_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container, "MAX_BODY_BYTES", 10)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 25\r\n\r\n" + b"x" * 25)
        await writer.drain()

    async def client(conn: RuntimeConnection) -> tuple[Response, bool]:
        response = await conn.request("/run", b"{}", 5)
        return response, conn.usable

    response, usable = _run(answer, client)  # type: ignore[misc]
    assert (response.body, response.length) == (b"x" * 10, 25)
    assert not usable


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (b"", "connection closed before the response"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "connection closed in the response headers"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", "connection closed in the response headers"),
        (b"garbage\r\n\r\n", "malformed response head"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", "malformed response head"),
    ],
)
def test_a_broken_runtime_is_runtime_gone(sent: bytes, message: str) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(sent)
        await writer.drain()
        writer.close()

    async def client(conn: RuntimeConnection) -> object:
        with pytest.raises(RuntimeGone, match=message):
            await conn.request("/run", b"{}", 5)
        return conn.usable

    assert _run(answer, client) is False


def test_no_answer_within_the_timeout_is_timeout_error() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers; ends when the client closes

    async def client(conn: RuntimeConnection) -> object:
        with pytest.raises(TimeoutError):
            await conn.request("/run", b"{}", 0.05)
        return True

    assert _run(answer, client) is True


def test_bytes_nobody_asked_for_close_the_connection() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\n")
        await writer.drain()
        await reader.read()

    async def client(conn: RuntimeConnection) -> object:
        response = await conn.request("/run", b"{}", 5)
        assert response.body == b"{}"
        return conn.usable

    assert _run(answer, client) is False
