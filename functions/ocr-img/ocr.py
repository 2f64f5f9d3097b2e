"""OCR of an image (the seed's ocr-img, a raw-http web action) with the host's Tesseract (``tesseract-ocr``).

As a web action with ``raw-http``, the POSTed image arrives base64 in ``__ow_body``; a plain invoke passes it
base64 in ``image``. Returns the recognised ``text`` and its ``lines``.
"""

import base64
import binascii
import shutil
import subprocess
from typing import Any

MAX_BYTES = 5 * 1024 * 1024


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Params: ``image`` or ``__ow_body`` (base64 PNG/JPEG), ``lang`` (default ``eng``)."""
    encoded = args.get("image") or args.get("__ow_body")
    if not isinstance(encoded, str) or not encoded:
        return {
            "error": "no image: POST it to the web action (raw-http) or pass 'image' as base64, "
            "e.g. {'image': base64.b64encode(open('a.png','rb').read()).decode()}"
        }
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return {"error": "parameter 'image' is not base64; encode the PNG or JPEG bytes with base64"}
    if len(data) > MAX_BYTES:
        return {"error": f"image is {len(data)} bytes; use at most {MAX_BYTES} bytes"}
    lang = args.get("lang", "eng")
    if not isinstance(lang, str) or not lang.isalpha():
        return {"error": f"parameter 'lang' is {lang!r}; use a Tesseract language code such as 'eng'"}
    binary = shutil.which("tesseract")
    if binary is None:
        return {"error": "tesseract is not installed on the invoker host; install Debian's tesseract-ocr"}
    done = subprocess.run(
        [binary, "stdin", "stdout", "-l", lang], input=data, capture_output=True, timeout=60, check=False
    )
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace")[-300:]
        return {"error": f"tesseract failed ({done.returncode}): {detail}"}
    text = done.stdout.decode("utf-8", errors="replace").strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return {"text": text, "lines": lines, "bytes": len(data)}
