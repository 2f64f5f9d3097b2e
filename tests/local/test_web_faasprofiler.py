"""FaaSProfiler's ``data_file`` path end to end on the real embedded runtime.

The open-loop sender POSTs an image (``Content-Type: image/jpeg``) to ``/api/v1/web/guest/default/<action>``;
the web action receives it base64 in ``__ow_body``; every sample is joined to its activation record through
the ``x-openwhisk-activation-id`` response header.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.local import LocalOpenWhisk
from pytest_openwhisk.workload.runner import WorkloadRunner

from .conftest import Api

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "functions" / "assets" / "sample.jpg"
CODE = """
import base64, hashlib

def main(args):
    data = base64.b64decode(args.get("__ow_body", ""))
    return {"body": {"bytes": len(data), "sha1": hashlib.sha1(data).hexdigest(),
                     "type": args["__ow_headers"].get("content-type")}}
"""


def test_image_posted_to_a_web_action_is_joined_by_its_header(
    real_server: LocalOpenWhisk, real_api: Api, tmp_path: Path
) -> None:
    created = real_api.put_action(
        "fp-image", code=CODE, overwrite=True, annotations=[{"key": "web-export", "value": True}]
    )
    assert created.status_code == 200, created.text
    single = real_api.session.post(
        f"{real_server.apihost}/api/v1/web/guest/default/fp-image.json",
        data=IMAGE.read_bytes(),
        headers={"Content-Type": "image/jpeg"},
        timeout=60,
    )
    expected = {"bytes": IMAGE.stat().st_size, "type": "image/jpeg"}
    assert {k: single.json()["body"][k] for k in ("bytes", "type")} == expected
    (tmp_path / "image.jpg").write_bytes(IMAGE.read_bytes())
    config = {
        "test_name": "fp-web",
        "test_duration_in_seconds": 1,
        "random_seed": 7,
        "blocking_cli": False,
        "instances": {
            "img": {
                "application": "fp-image",
                "interarrivals_list": [0.1, 0.1, 0.1, 0.1],
                "data_file": "image.jpg",
            }
        },
        "perf_monitoring": {"runtime_script": None},
    }
    path = tmp_path / "workload_configs.json"
    path.write_text(json.dumps(config))
    with OpenWhiskClient(real_server.apihost, real_server.auth, "guest") as client:
        runner = WorkloadRunner(
            apihost=real_server.apihost,
            auth=real_server.auth,
            namespace="guest",
            source=client,
            results_dir=tmp_path / "results",
        )
        analysis = runner.run(path, settle_s=10, plots=False, record=False)
    samples = analysis.samples()
    assert len(samples) >= 4
    assert all(s.status == "success" and s.activation_id for s in samples), [s.error for s in samples]
    assert analysis.join["missing"] == 0
    assert all(s.duration_ms is not None for s in samples)
    record = real_api.activation(samples[0].activation_id or "").json()
    assert record["response"]["result"]["body"]["bytes"] == IMAGE.stat().st_size
    assert base64.b64encode(IMAGE.read_bytes())  # the image is real bytes, not text
