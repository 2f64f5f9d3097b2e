"""Regenerate ``sample.jpg``: a 640x480 synthetic photo with EXIF camera, date and GPS tags.

Run ``python functions/assets/make_sample.py``; the output is deterministic for a given Pillow version.
"""

from pathlib import Path

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 640, 480


def make(path: Path) -> None:
    """Draw the picture and save it as JPEG with EXIF."""
    img = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(img)
    for y in range(HEIGHT):  # sky-to-ground gradient
        shade = int(255 * y / HEIGHT)
        draw.line([(0, y), (WIDTH, y)], fill=(40 + shade // 3, 90 + shade // 4, 200 - shade // 2))
    draw.ellipse([420, 60, 520, 160], fill=(250, 220, 90))
    draw.polygon([(0, 400), (180, 250), (360, 400)], fill=(60, 110, 60))
    draw.polygon([(220, 400), (430, 220), (640, 400)], fill=(50, 95, 55))
    draw.rectangle([0, 400, WIDTH, HEIGHT], fill=(90, 70, 50))
    exif = Image.Exif()
    exif[0x010F] = "pytest-openwhisk"  # Make
    exif[0x0110] = "SyntheticCam 1"  # Model
    exif[0x0132] = "2022:10:06 12:34:56"  # DateTime
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (45.0, 29.0, 44.0)  # Montréal
    gps[3], gps[4] = "W", (73.0, 33.0, 45.0)
    img.save(path, "JPEG", quality=85, exif=exif)


if __name__ == "__main__":
    make(Path(__file__).with_name("sample.jpg"))
