"""Markdown to HTML with the ``markdown`` package, which the catalogue bundles into this zip action.

Params: ``text`` (Markdown source) or ``text_b64`` (the same, base64-encoded, as FaaSProfiler's
markdown-to-html sends it). Returns ``{"html": ..., "bytes_in": n, "bytes_out": m, "markdown_version": v,
"loaded_from": "bundle" | "system"}``.
"""

import base64
import binascii
from typing import Any

import markdown

MAX_BYTES = 256 * 1024

DEFAULT_TEXT = """# OpenWhisk

Serverless functions, **benchmarked**:

* cold starts
* warm latency
* [chains](https://github.com/SJTU-IPADS/ServerlessBench)

| kind | runtime |
|------|---------|
| python | 3.11 |
"""


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Render ``text`` (or the base64 ``text_b64``) to HTML with tables and fenced code enabled."""
    if "text_b64" in args:
        try:
            text = base64.b64decode(str(args["text_b64"]), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            return {
                "error": f"parameter 'text_b64' is not base64 of UTF-8 text ({exc}); "
                "encode the Markdown with base64 or pass it as 'text'"
            }
    else:
        text = args.get("text", DEFAULT_TEXT)
    if not isinstance(text, str):
        return {"error": f"parameter 'text' is {text!r}; use a string of Markdown"}
    if len(text.encode("utf-8")) > MAX_BYTES:
        return {"error": f"parameter 'text' has {len(text)} characters; keep it under {MAX_BYTES} bytes"}
    html = markdown.markdown(text, extensions=["tables", "fenced_code"])
    return {
        "html": html,
        "bytes_in": len(text.encode("utf-8")),
        "bytes_out": len(html.encode("utf-8")),
        "markdown_version": markdown.__version__,
        "loaded_from": "bundle" if "/virtualenv/" in markdown.__file__.replace("\\", "/") else "system",
    }
