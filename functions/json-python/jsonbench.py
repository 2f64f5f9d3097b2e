"""JSON microbenchmark: generate a document of ``items`` records, serialise and parse it ``rounds`` times.

The document is deterministic and identical to the Node.js twin's (same keys, order and compact
separators), so both return the same ``bytes`` and ``sums``.
"""

import json
from typing import Any

MAX_ITEMS = 200_000
MAX_ROUNDS = 1_000


def _bad(name: str, value: Any, allowed: str) -> dict[str, Any]:
    return {"error": f"parameter '{name}' is {value!r}; {allowed}"}


def make_document(items: int) -> dict[str, Any]:
    """The generated document: ``{"coordinates": [{id, name, x, y, z, tags}, ...]}``."""
    return {
        "coordinates": [
            {
                "id": i,
                "name": f"item-{i}",
                "x": i * 37 % 1000,
                "y": i * 91 % 1000,
                "z": i * 13 % 1000,
                "tags": [f"t{i % 7}", f"t{i % 11}"],
            }
            for i in range(items)
        ]
    }


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Params: ``items`` (records, default 1000), ``rounds`` (serialise+parse cycles, default 1)."""
    items = args.get("items", 1000)
    rounds = args.get("rounds", 1)
    if isinstance(items, bool) or not isinstance(items, int) or not 0 <= items <= MAX_ITEMS:
        return _bad("items", items, f"use an integer from 0 to {MAX_ITEMS}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= MAX_ROUNDS:
        return _bad("rounds", rounds, f"use an integer from 1 to {MAX_ROUNDS}")
    document = make_document(items)
    text = ""
    parsed: dict[str, Any] = {}
    for _ in range(rounds):
        text = json.dumps(document, separators=(",", ":"))
        parsed = json.loads(text)
    coords = parsed["coordinates"]
    sums = {axis: sum(c[axis] for c in coords) for axis in ("x", "y", "z")}
    return {"items": len(coords), "bytes": len(text.encode("utf-8")), "rounds": rounds, "sums": sums}
