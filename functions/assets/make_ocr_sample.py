"""Writes ``ocr-sample.png``: black text on white, large enough for Tesseract (the PNG is committed)."""

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

LINES = ("OPENWHISK BENCHMARK", "SERVERLESS 2026")


def main() -> None:
    """Render the sample image next to this script."""
    font = ImageFont.load_default(size=48)
    image = Image.new("L", (760, 200), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(LINES):
        draw.text((30, 30 + i * 80), line, fill=0, font=font)
    image.save(Path(__file__).with_name("ocr-sample.png"), optimize=True)


if __name__ == "__main__":
    main()
