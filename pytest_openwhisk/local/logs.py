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


def timestamp(ns: int) -> str:
    """Docker's RFC 3339 timestamp with nanoseconds, e.g. ``2024-05-01T10:00:00.123456789Z`` (30 chars)."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"


def format_line(ns: int, stream: str, text: str) -> str:
    """One activation log line as OpenWhisk stores it."""
    return f"{timestamp(ns):<30} {stream}: {text.strip()}"


class StreamTail:
    """Lines of one pipe, cut into per-activation chunks at the sentinel.

    ``limit_bytes`` bounds what one chunk keeps (the rest is counted, not stored), so a runaway
    action cannot fill the invoker's memory. ``recent`` keeps the last few KB for crash diagnosis.
    """

    def __init__(self, name: str, limit_bytes: int = 10 * 1024 * 1024) -> None:
        self.name = name
        self.limit_bytes = limit_bytes
        self.recent: deque[str] = deque(maxlen=32)
        self._partial = b""
        self._lines: list[Line] = []
        self._kept = 0
        self._dropped = False
        self._chunks: asyncio.Queue[tuple[list[Line], bool]] = asyncio.Queue()
        self.eof = False

    def feed(self, data: bytes) -> None:
        """Add bytes read from the pipe (any split); complete lines are stamped now."""
        now = time.time_ns()
        data = self._partial + data
        *complete, self._partial = data.split(b"\n")
        for raw in complete:
            text = raw.decode("utf-8", "replace").rstrip("\r")
            if text == SENTINEL:
                self._cut()
                continue
            self.recent.append(text[:512])
            size = len(raw) + 1
            if self._kept + size > self.limit_bytes:
                self._dropped = True
            else:
                self._kept += size
                self._lines.append((now, text))

    def close(self) -> None:
        """The pipe reached EOF (process gone): hand out what is left and every later read is empty."""
        if self._partial:
            self.feed(b"\n")
        self.eof = True
        self._cut()

    def _cut(self) -> None:
        self._chunks.put_nowait((self._lines, self._dropped))
        self._lines, self._kept, self._dropped = [], 0, False

    async def next_chunk(self, timeout: float) -> tuple[list[Line], bool, bool]:
        """The next activation's lines: ``(lines, truncated, complete)``; complete is False on timeout."""
        if self._chunks.empty() and self.eof:
            return [], False, True
        try:
            lines, dropped = await asyncio.wait_for(self._chunks.get(), timeout)
        except TimeoutError:
            lines, dropped = self._lines, self._dropped  # the sentinel never came: take what is there
            self._lines, self._kept, self._dropped = [], 0, False
            return lines, dropped, False
        return lines, dropped, True

    def discard_pending(self) -> None:
        """Forget chunks of earlier activations (e.g. after the pool reuses a container for a new action)."""
        while not self._chunks.empty():
            self._chunks.get_nowait()


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
