"""Image pipeline step 1/4: extract metadata (format, size, EXIF camera/date/GPS) with bundled Pillow.

Input: ``image`` (base64 JPEG/PNG), ``imageName``. Output: the input plus ``extractedMetadata`` and a
``timeline`` entry. Counterpart of ServerlessBench's extractImageMetadata (ImageMagick ``identify``).
"""

import base64
import binascii
import io
import time
from typing import Any

from PIL import Image, UnidentifiedImageError

EXIF_TAGS = {0x010F: "Make", 0x0110: "Model", 0x0132: "DateTime"}
GPS_IFD = 0x8825
GPS_TAGS = {1: "GPSLatitudeRef", 2: "GPSLatitude", 3: "GPSLongitudeRef", 4: "GPSLongitude"}


def _plain(value: Any) -> Any:
    """EXIF values (IFDRational tuples...) as JSON numbers and strings."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int)):
        return value
    return float(value)


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Return the input with ``extractedMetadata`` added."""
    start = time.time() * 1000.0
    if "image" not in args:
        return {"error": "parameter 'image' is missing; pass a base64-encoded JPEG or PNG as 'image'"}
    try:
        raw = base64.b64decode(str(args["image"]), validate=True)
        img = Image.open(io.BytesIO(raw))
    except (binascii.Error, UnidentifiedImageError, OSError) as exc:
        return {
            "error": f"parameter 'image' is not a base64-encoded image ({type(exc).__name__}: {exc}); "
            "pass a JPEG or PNG encoded with base64"
        }
    exif = img.getexif()
    meta: dict[str, Any] = {
        "format": img.format,
        "width": img.size[0],
        "height": img.size[1],
        "mode": img.mode,
        "fileSize": len(raw),
    }
    meta.update({name: _plain(exif[tag]) for tag, name in EXIF_TAGS.items() if tag in exif})
    gps = exif.get_ifd(GPS_IFD)
    meta.update({name: _plain(gps[tag]) for tag, name in GPS_TAGS.items() if tag in gps})
    timeline = [
        *args.get("timeline", []),
        {"step": "extract", "start": round(start, 3), "end": round(time.time() * 1000.0, 3)},
    ]
    return {**args, "extractedMetadata": meta, "timeline": timeline}
