"""One step of the long function chain (ServerlessBench Testcase3, "array sum", sequence form).

Adds 1 to ``n`` and appends this step's start and return timestamps (epoch ms) to ``startTimes`` and
``retTimes``, so the last step's result carries the whole chain's timeline. ``fib`` (default 0)
adds a small CPU load (iterative Fibonacci of that index), like the seed's fibo(1000).
"""

import time
from typing import Any


def _fib(k: int) -> int:
    a, b = 0, 1
    for _ in range(k):
        a, b = b, a + b
    return a


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Return ``{"n": n + 1, "startTimes": [..., start], "retTimes": [..., end]}``."""
    start = time.time() * 1000.0
    n = args.get("n", 0)
    fib = args.get("fib", 0)
    if isinstance(n, bool) or not isinstance(n, int):
        return {"error": f"parameter 'n' is {n!r}; use an integer (the chain adds 1 per step), e.g. 0"}
    if isinstance(fib, bool) or not isinstance(fib, int) or not 0 <= fib <= 100_000:
        return {"error": f"parameter 'fib' is {fib!r}; use an integer from 0 to 100000 (0 = no CPU load)"}
    starts = list(args.get("startTimes") or [])
    rets = list(args.get("retTimes") or [])
    result: dict[str, Any] = {"n": n + 1, "fib": fib}
    if fib:
        result["fibDigits"] = len(str(_fib(fib)))
    starts.append(round(start, 3))
    rets.append(round(time.time() * 1000.0, 3))
    result["startTimes"] = starts
    result["retTimes"] = rets
    return result
