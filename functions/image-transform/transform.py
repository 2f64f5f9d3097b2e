"""Image pipeline step 2/4: normalise the extracted metadata (ServerlessBench transformMetadata).

Input: ``extractedMetadata`` from step 1. Output: the input without ``extractedMetadata`` plus
``metadata = {creationTime, geo, exifMake, exifModel, dimensions, fileSize, format}``.
"""

import time
from typing import Any


def _dms(values: Any, ref: Any) -> dict[str, Any] | None:
    if not isinstance(values, list) or len(values) != 3:
        return None
    degrees, minutes, seconds = (float(v) for v in values)
    decimal = degrees + minutes / 60.0 + seconds / 3600.0
    if ref in ("S", "W"):
        decimal = -decimal
    return {"D": degrees, "M": minutes, "S": seconds, "ref": ref, "decimal": round(decimal, 6)}


def _iso(exif_date: Any) -> str | None:
    """EXIF "YYYY:MM:DD HH:MM:SS" as ISO 8601."""
    if not isinstance(exif_date, str) or len(exif_date) < 19:
        return None
    return exif_date[:10].replace(":", "-") + "T" + exif_date[11:19]


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Return the input with ``metadata`` (normalised) in place of ``extractedMetadata``."""
    start = time.time() * 1000.0
    raw = args.get("extractedMetadata")
    if not isinstance(raw, dict):
        return {
            "error": f"parameter 'extractedMetadata' is {type(raw).__name__}; this step expects the "
            "output of image-extract (deploy the image-pipeline sequence in order)"
        }
    latitude = _dms(raw.get("GPSLatitude"), raw.get("GPSLatitudeRef"))
    longitude = _dms(raw.get("GPSLongitude"), raw.get("GPSLongitudeRef"))
    metadata = {
        "creationTime": _iso(raw.get("DateTime")),
        "geo": {"latitude": latitude, "longitude": longitude} if latitude and longitude else None,
        "exifMake": raw.get("Make"),
        "exifModel": raw.get("Model"),
        "dimensions": {"width": raw.get("width"), "height": raw.get("height")},
        "fileSize": raw.get("fileSize"),
        "format": raw.get("format"),
    }
    result = {k: v for k, v in args.items() if k != "extractedMetadata"}
    result["metadata"] = metadata
    result["timeline"] = [
        *args.get("timeline", []),
        {"step": "transform", "start": round(start, 3), "end": round(time.time() * 1000.0, 3)},
    ]
    return result
