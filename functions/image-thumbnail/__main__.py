"""Image pipeline step 3/4: thumbnail fitting ``thumbnailSize`` (default 250x250) with bundled Pillow.

Input: ``image`` (base64). Output: the input without ``image`` plus ``thumbnail`` (base64 JPEG) and
``thumbnailDimensions``. Counterpart of ServerlessBench's thumbnail step (ImageMagick ``convert``).
"""

import base64
import binascii
import io
import time
from typing import Any

from PIL import Image, UnidentifiedImageError


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Return the input with the original image replaced by its thumbnail."""
    start = time.time() * 1000.0
    size = args.get("thumbnailSize", 250)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 4096:
        return {"error": f"parameter 'thumbnailSize' is {size!r}; use an integer from 1 to 4096, e.g. 250"}
    try:
        img = Image.open(io.BytesIO(base64.b64decode(str(args.get("image", "")), validate=True)))
        img.thumbnail((size, size))
    except (binascii.Error, UnidentifiedImageError, OSError) as exc:
        return {
            "error": f"parameter 'image' is not a base64-encoded image ({type(exc).__name__}: {exc}); "
            "pass a JPEG or PNG encoded with base64"
        }
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=80)
    result = {k: v for k, v in args.items() if k != "image"}
    result["thumbnail"] = base64.b64encode(out.getvalue()).decode("ascii")
    result["thumbnailDimensions"] = {"width": img.size[0], "height": img.size[1]}
    result["timeline"] = [
        *args.get("timeline", []),
        {"step": "thumbnail", "start": round(start, 3), "end": round(time.time() * 1000.0, 3)},
    ]
    return result
