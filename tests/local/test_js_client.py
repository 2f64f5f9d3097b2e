"""Compatibility with the official OpenWhisk JS client (``openwhisk`` on npm) against the serve process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_openwhisk.local.config import LocalConfig, PoolConfig
from pytest_openwhisk.local.process import LocalOpenWhiskProcess

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "tests" / "js" / "node_modules"
SCRIPT = Path(__file__).with_name("js_client.js")

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed; run 'bash .ci/setup'"),
    pytest.mark.skipif(
        not (NODE_MODULES / "openwhisk").is_dir(),
        reason="tests/js/node_modules/openwhisk is missing; run 'bash .ci/setup' (npm install)",
    ),
]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalOpenWhiskProcess]:
    with LocalOpenWhiskProcess(LocalConfig.benchmark(pool=PoolConfig(prewarm=()))) as ow:
        yield ow


def test_js_client_create_invoke_activations_delete(server: LocalOpenWhiskProcess) -> None:
    env = {
        **os.environ,
        "NODE_PATH": str(NODE_MODULES),
        "__OW_API_HOST": server.apihost,
        "__OW_API_KEY": server.auth,
    }
    done = subprocess.run(
        ["node", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["created"]["exec"]["kind"] == "python:3.11"
    assert out["result"] == {"greeting": "hi node"}
    invoked = out["invoked"]
    assert invoked["response"]["result"] == {"greeting": "hi again"}
    assert out["activation"]["activationId"] == invoked["activationId"]
    assert out["activation"]["response"]["success"] is True
    assert len(out["logs"]["logs"]) == 1
    assert out["logs"]["logs"][0].endswith("stdout: hello from again")
    assert out["activationResult"]["result"] == {"greeting": "hi again"}
    assert {a["activationId"] for a in out["listed"]} >= {invoked["activationId"]}
    assert out["count"]["activations"] >= 2
    assert "js-client-hello" in [a["name"] for a in out["actions"]]
    assert out["missing"]["statusCode"] == 404
    assert "The requested resource does not exist." in out["missing"]["message"]
    assert out["deleted"]["name"] == "js-client-hello"
    assert "js-client-hello" not in out["afterDelete"]


def test_js_client_packages_triggers_rules_web_actions(server: LocalOpenWhiskProcess) -> None:
    env = {
        **os.environ,
        "NODE_PATH": str(NODE_MODULES),
        "__OW_API_HOST": server.apihost,
        "__OW_API_KEY": server.auth,
    }
    script = ROOT / "tests" / "js" / "entities.js"
    done = subprocess.run(
        ["node", str(script)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["pkg"]["name"] == "jspkg"
    assert out["binding"]["binding"] == {"namespace": "guest", "name": "jspkg"}
    assert out["viaPackage"] == {"from": "package", "x": 1}
    assert out["viaBinding"] == {"from": "binding"}
    assert [a["name"] for a in out["pkgGet"]["actions"]] == ["echo"]
    assert set(out["packages"]) >= {"jspkg", "jsbind"}
    assert out["rule"]["status"] == "active"
    assert len(out["fired"]["activationId"]) == 32
    assert out["ruleGet"]["trigger"] == {"path": "guest", "name": "jstrigger"}
    assert (out["ruleDisabled"], out["ruleEnabled"]) == ("inactive", "active")
    assert "jsrule" in out["rules"]
    assert "jstrigger" in out["triggers"]
    assert out["webStatus"] == 200
    assert out["webBody"] == {"body": {"method": "get", "q": "7"}}
    assert len(out["webActivation"]) == 32
    assert out["ruleDeleted"]["status"] == "inactive"
    assert out["pkgDeleted"]["name"] == "jspkg"
