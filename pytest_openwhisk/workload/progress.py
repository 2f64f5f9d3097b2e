"""A live progress line for long workloads (terminal only; silent when the output is not a tty)."""

from __future__ import annotations

from typing import Protocol

from pytest_openwhisk.workload.sendresult import Counters


class Writer(Protocol):
    """Where the line goes: a text stream, or pytest's terminal writer."""

    def write(self, text: str) -> object: ...
    def flush(self) -> object: ...
    def isatty(self) -> bool: ...


def format_line(name: str, c: Counters) -> str:
    """``[workload NAME] 12.0/30s  sent 1200/3000  done 1180  failed 2  dropped 0  in-flight 20``."""
    return (
        f"[workload {name}] {c.elapsed_s:5.1f}/{c.duration_s:g}s  sent {c.sent}/{c.scheduled}  "
        f"done {c.completed}  failed {c.failed}  dropped {c.dropped}  in-flight {c.in_flight}"
    )


class ProgressLine:
    """Rewrites one terminal line with the live counters; does nothing when ``enabled`` is False."""

    def __init__(self, name: str, stream: Writer | None, enabled: bool) -> None:
        self.name = name
        self.stream = stream
        self.enabled = enabled and stream is not None
        self._width = 0

    @classmethod
    def for_stream(cls, name: str, stream: Writer | None) -> ProgressLine:
        """Enabled only when ``stream`` is an interactive terminal."""
        isatty = bool(stream is not None and stream.isatty())
        return cls(name, stream, isatty)

    def update(self, counters: Counters) -> None:
        """Redraw the line."""
        if not self.enabled or self.stream is None:
            return
        text = format_line(self.name, counters)
        pad = max(0, self._width - len(text))
        self._width = len(text)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()

    def close(self, counters: Counters | None = None) -> None:
        """Draw the final state and end the line."""
        if not self.enabled or self.stream is None:
            return
        if counters is not None:
            self.update(counters)
        self.stream.write("\n")
        self.stream.flush()
