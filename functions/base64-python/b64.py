"""base64 microbenchmark: encode then decode a text ``rounds`` times and return the decoded string."""

import base64
from typing import Any

MAX_BYTES = 512 * 1024  # the decoded string is returned, so stay well under the 1 MB result limit
MAX_ROUNDS = 100_000


def _bad(name: str, value: Any, allowed: str) -> dict[str, Any]:
    return {"error": f"parameter '{name}' is {value!r}; {allowed}"}


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Params: ``text`` (default "Hello, OpenWhisk!"), ``repeat`` (copies, default 1), ``rounds`` (1)."""
    text = args.get("text", "Hello, OpenWhisk!")
    repeat = args.get("repeat", 1)
    rounds = args.get("rounds", 1)
    if not isinstance(text, str):
        return _bad("text", text, "use a string")
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        return _bad("repeat", repeat, "use an integer >= 1")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= MAX_ROUNDS:
        return _bad("rounds", rounds, f"use an integer from 1 to {MAX_ROUNDS}")
    payload = (text * repeat).encode("utf-8")
    if len(payload) > MAX_BYTES:
        return _bad(
            "text", f"<{len(payload)} bytes after repeat>", f"keep text * repeat under {MAX_BYTES} bytes"
        )
    encoded = b""
    decoded = payload
    for _ in range(rounds):
        encoded = base64.b64encode(payload)
        decoded = base64.b64decode(encoded)
    return {
        "decoded": decoded.decode("utf-8"),
        "length": len(payload),
        "encoded_length": len(encoded),
        "rounds": rounds,
    }
