"""Image thumbnail with Pillow, which the catalogue bundles into this zip action.

Params: ``image`` (base64 JPEG/PNG/...), ``size`` (longest edge of the thumbnail in px, default 128),
``format`` ("JPEG" or "PNG", default "JPEG"). Returns the thumbnail (base64) and its dimensions.
"""

import base64
import binascii
import io
from typing import Any

from PIL import Image, UnidentifiedImageError

FORMATS = ("JPEG", "PNG")


def _bad(name: str, value: Any, allowed: str) -> dict[str, Any]:
    shown = value if not isinstance(value, str) or len(value) < 40 else value[:37] + "..."
    return {"error": f"parameter '{name}' is {shown!r}; {allowed}"}


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Decode ``image``, fit it into ``size`` x ``size`` keeping the aspect ratio, encode it as ``format``."""
    size = args.get("size", 128)
    fmt = str(args.get("format", "JPEG")).upper()
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 4096:
        return _bad("size", size, "use an integer number of pixels from 1 to 4096, e.g. 128")
    if fmt not in FORMATS:
        return _bad("format", args.get("format"), f"use one of {', '.join(FORMATS)}")
    if "image" not in args:
        return {"error": "parameter 'image' is missing; pass a base64-encoded JPEG or PNG as 'image'"}
    try:
        raw = base64.b64decode(str(args["image"]), validate=True)
        img = Image.open(io.BytesIO(raw))
        img.load()
    except (binascii.Error, UnidentifiedImageError, OSError) as exc:
        return _bad("image", args["image"], f"use a base64-encoded JPEG or PNG ({type(exc).__name__}: {exc})")
    original = img.size
    img.thumbnail((size, size))
    out = io.BytesIO()
    (img.convert("RGB") if fmt == "JPEG" else img).save(out, fmt)
    data = out.getvalue()
    return {
        "width": img.size[0],
        "height": img.size[1],
        "original": list(original),
        "format": fmt,
        "bytes": len(data),
        "thumbnail": base64.b64encode(data).decode("ascii"),
        "pillow_version": Image.__version__,
        "loaded_from": "bundle" if "/virtualenv/" in Image.__file__.replace("\\", "/") else "system",
    }
