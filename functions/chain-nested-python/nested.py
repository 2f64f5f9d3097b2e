"""Nested long function chain (ServerlessBench Testcase3, "array sum", nested form).

The action invokes itself through the OpenWhisk REST API with ``n - 1`` (blocking, result only) until
``n`` is 1, then every level returns ``1 + child``; a depth-``n`` chain returns ``{"result": n}`` and
holds ``n`` containers busy at once. Needs annotation ``provide-api-key: true`` (for ``__OW_API_KEY``).
The API host comes from ``__OW_API_HOST`` (set by the invoker), else from the ``apihost`` parameter.
"""

import base64
import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

MAX_DEPTH = 200


def _invoke_self(apihost: str, params: dict[str, Any], timeout_s: float, verify: bool) -> dict[str, Any]:
    """Blocking invoke of this very action (``__OW_ACTION_NAME`` = /namespace/[package/]name)."""
    namespace, _, name = os.environ["__OW_ACTION_NAME"].lstrip("/").partition("/")
    url = (
        f"{apihost.rstrip('/')}/api/v1/namespaces/{urllib.parse.quote(namespace)}/actions/"
        f"{urllib.parse.quote(name, safe='/')}?blocking=true&result=true"
    )
    key = base64.b64encode(os.environ["__OW_API_KEY"].encode()).decode()
    request = urllib.request.Request(
        url,
        data=json.dumps(params).encode(),
        method="POST",
        headers={"Authorization": f"Basic {key}", "Content-Type": "application/json"},
    )
    context = None
    if url.startswith("https:") and not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    decoded = json.loads(body or b"{}")
    if status != 200:
        error = decoded.get("error", decoded) if isinstance(decoded, dict) else decoded
        raise RuntimeError(f"nested invoke at depth {params['n']} answered HTTP {status}: {error}")
    return decoded  # type: ignore[no-any-return]


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Params: ``n`` (depth, default 1), ``apihost`` (fallback), ``verify_tls`` (default false)."""
    start = time.time() * 1000.0
    n = args.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_DEPTH:
        return {"error": f"parameter 'n' is {n!r}; use an integer depth from 1 to {MAX_DEPTH}, e.g. 10"}
    if n == 1:
        return {
            "result": 1,
            "startTimes": [round(start, 3)],
            "retTimes": [round(time.time() * 1000.0, 3)],
            "invokeTimes": [],
        }
    if not os.environ.get("__OW_API_KEY"):
        return {
            "error": "no __OW_API_KEY in the action's environment; deploy the action with annotation "
            "provide-api-key=true"
        }
    apihost = os.environ.get("__OW_API_HOST") or args.get("apihost")
    if not apihost:
        return {
            "error": "no API host: neither __OW_API_HOST is set nor parameter 'apihost' given; pass "
            "apihost='http://HOST:PORT' (the OpenWhisk API as seen from the action)"
        }
    if "://" not in str(apihost):
        apihost = f"https://{apihost}"  # OpenWhisk clients assume https without a scheme
    deadline_ms = float(os.environ.get("__OW_DEADLINE") or 0)
    timeout_s = max(1.0, deadline_ms / 1000.0 - time.time()) if deadline_ms else 300.0
    child_params = {k: v for k, v in args.items() if k not in ("startTimes", "retTimes", "invokeTimes")}
    child_params["n"] = n - 1
    invoked = time.time() * 1000.0
    try:
        child = _invoke_self(str(apihost), child_params, timeout_s, bool(args.get("verify_tls", False)))
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "result": 1 + int(child["result"]),
        "startTimes": [round(start, 3), *child.get("startTimes", [])],
        "retTimes": [*child.get("retTimes", []), round(time.time() * 1000.0, 3)],
        "invokeTimes": [round(invoked, 3), *child.get("invokeTimes", [])],
    }
