"""Synthetic samples for the unit tests of the plugin (one factory for every test module)."""

from __future__ import annotations

from pytest_openwhisk.samples import Sample


def make(
    latency: float,
    *,
    sent: float = 0.0,
    ok: bool = True,
    status: str | None = None,
    http: int | None = None,
    duration: float | None = None,
    wait: float | None = None,
    init: float | None = None,
    cold: bool = False,
) -> Sample:
    """A sample of ``latency`` ms sent at ``sent``; ``cold`` ones carry an initTime (100 ms by default)."""
    status = status or ("success" if ok else "application error")
    init = 100.0 if cold and init is None else init
    return Sample(
        action="a",
        sent=sent,
        received=sent + latency / 1000,
        latency_ms=latency,
        http_status=http if http is not None else (200 if status == "success" else 502),
        status=status,
        duration_ms=duration,
        wait_ms=wait,
        init_ms=init,
        cold=init is not None,
    )
