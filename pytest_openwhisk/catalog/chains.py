"""Figures from chain results: own-code time of a nested chain, chaining overhead per step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def nested_own_ms(result: Mapping[str, Any]) -> float:
    """Time (ms) a ``chain-nested-python`` result spent inside the levels' own code.

    Each level contributes start -> invoke of its child plus child return -> its own return; the leaf
    contributes start -> return. ``startTimes``/``invokeTimes`` are outermost first, ``retTimes`` leaf
    first (each level appends its return time after its child's).
    """
    starts, invokes, rets = list(result["startTimes"]), list(result["invokeTimes"]), list(result["retTimes"])
    depth = len(starts)
    if depth == 0 or len(rets) != depth or len(invokes) != depth - 1:
        raise ValueError(
            f"not a nested-chain result: {depth} startTimes, {len(invokes)} invokeTimes, {len(rets)} "
            "retTimes; expected N, N-1 and N (the output of chain-nested-python)"
        )
    own = rets[0] - starts[-1]
    for level in range(depth - 1):
        own += invokes[level] - starts[level]
        own += rets[depth - 1 - level] - rets[depth - 2 - level]
    return float(own)


def chain_overhead_per_step_ms(span_ms: float, own_ms: float, length: int) -> float:
    """Chaining overhead per step: (wall span - time in the components' code) / N."""
    if length < 1:
        raise ValueError(f"chain length is {length}; use the number of steps (>= 1)")
    return (span_ms - own_ms) / length
