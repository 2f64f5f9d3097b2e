"""The HTML report rendered by headless Chromium: the plots must actually draw (not a blank page)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_openwhisk.regress import gate
from pytest_openwhisk.regress.html import write_report
from pytest_openwhisk.regress.load import run_from_json
from pytest_openwhisk.regress.spec import parse_gate

Image = pytest.importorskip("PIL.Image", reason="Pillow is needed: pip install -e '.[dev]'")
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed: run `bash .ci/setup`")
def test_report_renders_plots_in_headless_chromium(
    tmp_path: Path, build_run: Callable[..., dict[str, Any]], latency: Callable[..., list[float]]
) -> None:
    base = run_from_json(build_run({"test_a": latency()}), "0001_base")
    cur = run_from_json(build_run({"test_a": latency(extra_ms=6.0)}), "0002_head")
    report = gate.evaluate(base, cur, parse_gate("p50:5%,p95:5%"))
    page = write_report(report, tmp_path / "report.html", trend=[base, cur])
    png = tmp_path / "shot.png"
    assert CHROMIUM is not None
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={png}",
            "--window-size=1200,900",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert png.exists(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    image = Image.open(png).convert("RGB")
    assert image.size == (1200, 900)
    rgb = np.asarray(image, dtype=np.int32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    # the series colours are drawn: CDF baseline blue / current orange, trend p50 green / p95 red
    colours = {
        "baseline CDF (blue)": (b > 150) & (r < 80) & (g > 90) & (g < 160),
        "current CDF (orange)": (r > 220) & (g > 100) & (g < 160) & (b < 60),
        "trend p50 (green)": (g > 130) & (r < 80) & (b < 80),
        "trend p95 (red)": (r > 180) & (g < 70) & (b < 70),
    }
    for what, mask in colours.items():
        assert int(mask.sum()) > 150, f"{what} not drawn: {int(mask.sum())} pixels"
    # the plots sit in the lower part of the page, below the table: that band is far from blank
    band = rgb[400:, :, :].sum(axis=2) < 720
    assert band.mean() > 0.02, f"plot area nearly blank ({band.mean():.1%} non-white)"
