"""HTTP endpoint (the seed's http-endpoint, as a web action): answers "current time is ..." as JSON.

Deployed with ``web-export: true``: ``GET /api/v1/web/<ns>/default/http-endpoint`` returns the ``body``
below with status 200; a plain invoke returns the same object (``statusCode``, ``headers``, ``body``).
"""

import datetime
from typing import Any


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Params: ``name`` (optional). Returns a web response whose body says the current time (UTC)."""
    now = datetime.datetime.now(datetime.UTC)
    name = args.get("name", "stranger")
    if not isinstance(name, str) or len(name) > 100:
        return {"error": f"parameter 'name' is {name!r}; use a string of at most 100 characters, e.g. 'Ada'"}
    body = {
        "message": f"current time is {now.isoformat(timespec='milliseconds')}",
        "greeting": f"hello, {name}",
        "method": args.get("__ow_method", "invoke"),
    }
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": body}
