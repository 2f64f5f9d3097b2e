"""Image pipeline step 4/4: store the record in SQLite (instead of ServerlessBench's CouchDB).

Input: ``metadata``, ``thumbnail``, ``imageName``; ``db`` (SQLite file path, usually bound at deploy
time; default ``/tmp/ow-image-pipeline.sqlite``), ``album`` (default "default"). Writes one row to
table ``images``, reads it back and returns the final record (without the thumbnail bytes) with
``albumCount``, the album's row count. In a container the file lives in the container's filesystem
(private ``/tmp`` under the embedded backend's sandbox), so the count grows while the container is warm.
"""

import base64
import binascii
import json
import os
import sqlite3
import time
from typing import Any

DEFAULT_DB = "/tmp/ow-image-pipeline.sqlite"
SCHEMA = """CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY AUTOINCREMENT, album TEXT NOT NULL, name TEXT NOT NULL,
    upload_time REAL NOT NULL, metadata TEXT NOT NULL, thumbnail BLOB NOT NULL)"""


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Insert ``{album, name, metadata, thumbnail}`` and return the stored record's summary."""
    start = time.time() * 1000.0
    db = args.get("db") or DEFAULT_DB
    album = str(args.get("album", "default"))
    metadata = args.get("metadata")
    if not isinstance(metadata, dict):
        return {
            "error": f"parameter 'metadata' is {type(metadata).__name__}; this step expects the output of "
            "image-transform and image-thumbnail (deploy the image-pipeline sequence in order)"
        }
    try:
        thumbnail = base64.b64decode(str(args.get("thumbnail", "")), validate=True)
    except binascii.Error as exc:
        return {"error": f"parameter 'thumbnail' is not base64 ({exc}); it must come from image-thumbnail"}
    if not isinstance(db, str) or not os.path.isdir(os.path.dirname(os.path.abspath(db))):
        return {"error": f"parameter 'db' is {db!r}; use a file path whose directory exists"}
    name = str(args.get("imageName", "image"))
    with sqlite3.connect(db, timeout=30) as conn:
        conn.execute(SCHEMA)
        cursor = conn.execute(
            "INSERT INTO images (album, name, upload_time, metadata, thumbnail) VALUES (?, ?, ?, ?, ?)",
            (album, name, start / 1000.0, json.dumps(metadata, sort_keys=True), thumbnail),
        )
        image_id = cursor.lastrowid
        stored_bytes, album_count = conn.execute(
            "SELECT length(thumbnail), (SELECT count(*) FROM images WHERE album = ?) "
            "FROM images WHERE id = ?",
            (album, image_id),
        ).fetchone()
    conn.close()
    geo = metadata.get("geo") or {}
    return {
        "albumID": album,
        "imageID": image_id,
        "imageName": name,
        "db": db,
        "albumCount": album_count,
        "uploadTime": round(start, 3),
        "imageFormat": metadata.get("format"),
        "dimensions": metadata.get("dimensions"),
        "fileSize": metadata.get("fileSize"),
        "latitude": (geo.get("latitude") or {}).get("decimal"),
        "longitude": (geo.get("longitude") or {}).get("decimal"),
        "exifMake": metadata.get("exifMake"),
        "exifModel": metadata.get("exifModel"),
        "creationTime": metadata.get("creationTime"),
        "thumbnailBytes": stored_bytes,
        "thumbnailDimensions": args.get("thumbnailDimensions"),
        "timeline": [
            *args.get("timeline", []),
            {"step": "store", "start": round(start, 3), "end": round(time.time() * 1000.0, 3)},
        ],
    }
