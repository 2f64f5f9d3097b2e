"""Open loop: FaaSProfiler's ``data_file`` workload posting an image to the ``ocr-img`` web action.

The catalogue's ``ocr-img`` (raw-http web action, Tesseract) is deployed through ``ow_action``; a FaaSProfiler
config (``workload_configs.json`` shape) POSTs ``functions/assets/ocr-sample.png`` to
``/api/v1/web/<ns>/default/<action>`` at 4 requests/s (Poisson) for 10 s; each request is joined to its
activation by the ``x-openwhisk-activation-id`` header. The result is one open-loop measurement (latency,
completion, errors) with the SLO ``error_rate <= 0%``; ``ocr-img``'s warm p95 target applies to each request.
Runs on any backend whose runtime has ``tesseract`` (the embedded one with Debian's ``tesseract-ocr``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.catalog import FunctionSpec, deploy

RATE_PER_S = 4
DURATION_S = 10


@pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="needs tesseract: apt-get install tesseract-ocr"
)
@pytest.mark.ow_slo(error_rate="0%")
def test_ocr_images_posted_open_loop(
    catalog: dict[str, FunctionSpec], ow_action: Any, ow_workload: Any, tmp_path: Path
) -> None:
    """FaaSProfiler data_file workload against the ocr-img web action; every request joined and correct."""
    spec = catalog["ocr-img"]
    action = deploy(ow_action, spec)
    image = spec.folder.parent / "assets" / "ocr-sample.png"
    shutil.copy(image, tmp_path / "ocr-sample.png")
    config = {
        "test_name": "ocr-img-web",
        "test_duration_in_seconds": DURATION_S,
        "random_seed": 15,
        "blocking_cli": False,
        "instances": {
            "ocr": {
                "application": action.name,
                "distribution": "Poisson",
                "rate": RATE_PER_S,
                "data_file": "ocr-sample.png",
            }
        },
        "perf_monitoring": {"runtime_script": None},
    }
    path = tmp_path / "workload_configs.json"
    path.write_text(json.dumps(config))
    analysis = ow_workload.run(path, settle_s=30)
    samples = analysis.samples()
    assert samples, "the schedule sent nothing"
    assert analysis.join["missing"] == 0
    assert all(s.status == "success" for s in samples), [s.error for s in samples if s.error][:3]
