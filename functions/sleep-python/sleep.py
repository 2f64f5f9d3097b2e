"""Sleep for ``ms`` milliseconds, then report how long it slept (calibration of duration accounting)."""

import time
from typing import Any

MAX_MS = 55_000  # stays under the default 60 s action timeout


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Sleep ``args["ms"]`` milliseconds (default 100) and return ``{"slept_ms": <measured>}``."""
    ms = args.get("ms", 100)
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not 0 <= ms <= MAX_MS:
        return {
            "error": f"parameter 'ms' is {ms!r}; use a number of milliseconds from 0 to {MAX_MS}, e.g. 100"
        }
    started = time.perf_counter()
    time.sleep(ms / 1000.0)
    return {"requested_ms": ms, "slept_ms": round((time.perf_counter() - started) * 1000.0, 3)}
