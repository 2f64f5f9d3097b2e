"""Activation logs: tailing a runtime's stdout/stderr up to the sentinels, formatting and limits (§3.2).

Each container's two pipes are fed into a :class:`StreamTail`, which stamps every line when it
arrives (like Docker's json-file driver) and cuts the stream into one chunk per activation at the
``XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX`` sentinel. :func:`merge` turns the stdout and stderr chunks
of one activation into OpenWhisk's log lines ``"<timestamp padded to 30> <stream>: <text>"`` within
the action's ``logs`` limit.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from datetime import UTC, datetime

SENTINEL = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
TRUNCATED = "Logs were truncated because the total bytes size exceeds the limit of {limit} bytes."
DEVELOPER_ERROR = "The action did not initialize or run as expected. Log data might be missing."
COLLECTION_ERROR = "There was an issue while collecting your logs. Data might be missing."

Line = tuple[int, str]  # (epoch ns when read, text without the newline)
MAX_PENDING = 16  # chunks (sentinels) waiting to be taken; more sentinels than this do not cut
_SENTINEL_BYTES = SENTINEL.encode()
_SENTINEL_LINE = _SENTINEL_BYTES + b"\n"
_TAIL = len(_SENTINEL_BYTES) + 1


def timestamp(ns: int) -> str:
    """Docker's RFC 3339 timestamp with nanoseconds, e.g. ``2024-05-01T10:00:00.123456789Z`` (30 chars)."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"


def format_line(ns: int, stream: str, text: str) -> str:
    """One activation log line as OpenWhisk stores it."""
    return f"{timestamp(ns):<30} {stream}: {text.strip()}"


class StreamTail:
    """Lines of one pipe, cut into per-activation chunks at the sentinel.

    ``limit_bytes`` bounds what the tail keeps, across the current chunk and the chunks not yet taken
    (the rest is counted, not stored), so a runaway action cannot fill the invoker's memory: an
    unfinished line is capped at the limit as it arrives (linear time whatever its length; OpenWhisk's
    log reader caps lines the same way), a sentinel glued to the end of an unfinished line still ends the
    activation, and at most :data:`MAX_PENDING` chunks wait to be taken (further sentinels do not cut).
    ``recent`` keeps the last few KB for crash diagnosis.
    """

    def __init__(self, name: str, limit_bytes: int = 10 * 1024 * 1024) -> None:
        self.name = name
        self.limit_bytes = limit_bytes
        self.recent: deque[str] = deque(maxlen=32)
        self._partial: list[bytes] = []  # pieces of the unfinished line, at most limit_bytes in all
        self._partial_size = 0
        self._partial_over = False  # the unfinished line is longer than what was kept of it
        self._partial_end = b""  # its last bytes (to find a sentinel glued to a long line)
        self._lines: list[Line] = []
        self._kept = 0
        self._pending = 0  # bytes held by chunks waiting in the queue
        self._dropped = False
        self._chunks: deque[tuple[list[Line], bool, int]] = deque()
        self._waiter: asyncio.Future[None] | None = None  # next_chunk waiting for a cut
        self.eof = False

    @property
    def pending(self) -> int:
        """Chunks (finished activations' logs) waiting to be taken."""
        return len(self._chunks)

    def feed(self, data: bytes) -> None:
        """Add bytes read from the pipe (any split); complete lines are stamped now."""
        if data == _SENTINEL_LINE and not self._partial and not self._partial_over:
            self._cut()  # the common read after a quiet activation: just its end
            return
        now = time.time_ns()
        start = 0
        while (newline := data.find(b"\n", start)) >= 0:
            piece = data[start:newline]
            start = newline + 1
            if self._partial or self._partial_over:
                self._add_partial(piece)
                raw = b"".join(self._partial)
                over, end = self._partial_over, self._partial_end
                self._partial, self._partial_size, self._partial_over, self._partial_end = [], 0, False, b""
                self._line(now, raw, over, end)
            else:
                self._line(now, piece, False, piece[-_TAIL:])
        if start < len(data):
            self._add_partial(data[start:])

    def _add_partial(self, piece: bytes) -> None:
        if piece:
            self._partial_end = (self._partial_end + piece[-_TAIL:])[-_TAIL:]
        room = self.limit_bytes + _TAIL - self._partial_size
        if len(piece) > room:
            self._partial_over = True
            piece = piece[: max(0, room)]
        if piece:
            self._partial.append(piece)
            self._partial_size += len(piece)

    def _line(self, now: int, raw: bytes, over: bool, end: bytes) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        glued = (end.rstrip(b"\r") if end else raw).endswith(_SENTINEL_BYTES)
        if glued:  # "text<sentinel>": the action's last line had no newline
            if not over:
                raw = raw.rstrip(b"\r")[: -len(_SENTINEL_BYTES)]
            if raw:
                self._keep(now, raw, over)
            self._cut()
            return
        self._keep(now, raw, over)

    def _keep(self, now: int, raw: bytes, over: bool) -> None:
        self.recent.append(raw[:512].decode("utf-8", "replace"))
        size = len(raw) + 1
        if over or self._kept + self._pending + size > self.limit_bytes:
            self._dropped = True
        else:
            self._kept += size
            self._lines.append((now, raw.decode("utf-8", "replace")))

    def close(self) -> None:
        """The pipe reached EOF (process gone): hand out what is left and every later read is empty."""
        if self._partial or self._partial_over:
            self.feed(b"\n")
        self.eof = True
        self._cut(force=True)

    def _cut(self, force: bool = False) -> None:
        if len(self._chunks) >= MAX_PENDING and not force:
            return  # a sentinel flood: keep collecting into the current chunk (bounded by the limit)
        self._chunks.append((self._lines, self._dropped, self._kept))
        self._pending += self._kept
        self._lines, self._kept, self._dropped = [], 0, False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next_chunk(self, timeout: float) -> tuple[list[Line], bool, bool]:
        """The next activation's lines: ``(lines, truncated, complete)``; complete is False on timeout.

        On the warm path the runtime wrote its sentinels before its response, so the chunk is usually
        there already and is taken without waiting (no timer, no task)."""
        if not self._chunks:
            if self.eof:
                return [], False, True
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(timeout, _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
            if not self._chunks:  # the sentinel never came: take what is there
                lines, dropped = self._lines, self._dropped
                self._lines, self._kept, self._dropped = [], 0, False
                return lines, dropped, False
        lines, dropped, size = self._chunks.popleft()
        self._pending -= size
        return lines, dropped, True

    def discard_pending(self) -> None:
        """Forget chunks of earlier activations (e.g. after the pool reuses a container for a new action)."""
        while self._chunks:
            self._pending -= self._chunks.popleft()[2]


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def merge(
    stdout: list[Line],
    stderr: list[Line],
    limit_bytes: int,
    *,
    truncated: bool = False,
    developer_error: bool = False,
    incomplete: bool = False,
) -> list[str]:
    """OpenWhisk log lines of one activation, in time order, at most ``limit_bytes`` of text.

    ``limit_bytes == 0`` means no collection (only the developer-error notice is kept, as OpenWhisk does).
    """
    tagged = sorted(
        [(ns, 0, "stdout", text) for ns, text in stdout] + [(ns, 1, "stderr", text) for ns, text in stderr]
    )
    lines: list[str] = []
    used = 0
    for ns, _, stream, text in tagged if limit_bytes > 0 else ():
        size = len(text.encode("utf-8", "replace"))
        if used + size > limit_bytes:
            truncated = True
            break
        used += size
        lines.append(format_line(ns, stream, text))
    now = time.time_ns()
    if truncated and limit_bytes > 0:
        lines.append(format_line(now, "stderr", TRUNCATED.format(limit=limit_bytes)))
    if incomplete and limit_bytes > 0:
        lines.append(format_line(now, "stderr", COLLECTION_ERROR))
    if developer_error:
        lines.append(format_line(now, "stderr", DEVELOPER_ERROR))
    return lines
