"""The catalogue's web actions answered through ``/api/v1/web`` on the real embedded runtime.

``http-endpoint`` (JSON body), ``autocomplete`` (``?term=``) and ``ocr-img`` (raw-http: the image POSTed as
the request body, as the seed's FaaSProfiler workload sends it).
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from pytest_openwhisk.catalog import FunctionSpec, load_catalog
from pytest_openwhisk.local import LocalOpenWhisk

from .conftest import Api

CATALOG = load_catalog()


def _deploy(api: Api, spec: FunctionSpec) -> None:
    assert spec.code is not None
    body: dict[str, Any] = {
        "exec": {"kind": spec.kind, "code": spec.code.read_text()},
        "annotations": [{"key": k, "value": v} for k, v in spec.annotations.items()],
    }
    if spec.memory is not None:
        body["limits"] = {"memory": spec.memory}
    response = api.request("PUT", f"/actions/{spec.name}", params={"overwrite": "true"}, json=body)
    assert response.status_code == 200, response.text


def _web(server: LocalOpenWhisk, name: str) -> str:
    return f"{server.apihost}/api/v1/web/guest/default/{name}"


def test_http_endpoint_and_autocomplete(real_server: LocalOpenWhisk, real_api: Api) -> None:
    _deploy(real_api, CATALOG["http-endpoint"])
    page = real_api.session.get(_web(real_server, "http-endpoint") + "?name=web", timeout=60)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("application/json")
    assert page.json()["message"].startswith("current time is ")
    assert page.json()["greeting"] == "hello, web"
    assert page.json()["method"] == "get"
    assert len(page.headers["x-openwhisk-activation-id"]) == 32
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    _deploy(real_api, CATALOG["autocomplete"])
    found = real_api.session.get(_web(real_server, "autocomplete") + "?term=united", timeout=60)
    assert found.json() == {
        "term": "united",
        "matches": ["United Arab Emirates", "United Kingdom", "United States"],
    }


@pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="needs tesseract: apt-get install tesseract-ocr"
)
def test_ocr_img_reads_a_posted_image(real_server: LocalOpenWhisk, real_api: Api) -> None:
    spec = CATALOG["ocr-img"]
    _deploy(real_api, spec)
    image = (spec.folder.parent / "assets" / "ocr-sample.png").read_bytes()
    response = real_api.session.post(
        _web(real_server, "ocr-img.json"), data=image, headers={"Content-Type": "image/png"}, timeout=120
    )
    assert response.status_code == 200, response.text
    assert response.json()["lines"] == ["OPENWHISK BENCHMARK", "SERVERLESS 2026"]
    assert response.json()["bytes"] == len(image)
