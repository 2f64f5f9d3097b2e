"""Primes microbenchmark: count the primes below ``n`` with a sieve of Eratosthenes (pure Python)."""

from typing import Any

MAX_N = 50_000_000


def count_primes(n: int) -> int:
    """Number of primes p with 2 <= p < n."""
    if n < 3:
        return 0
    sieve = bytearray([1]) * n
    sieve[0] = sieve[1] = 0
    p = 2
    while p * p < n:
        if sieve[p]:
            sieve[p * p :: p] = bytes(len(range(p * p, n, p)))
        p += 1
    return sum(sieve)


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Params: ``n`` (exclusive upper bound, default 100000). Returns ``{"n": n, "count": ...}``."""
    n = args.get("n", 100_000)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_N:
        return {"error": f"parameter 'n' is {n!r}; use an integer from 0 to {MAX_N}, e.g. 100000"}
    return {"n": n, "count": count_primes(n)}
