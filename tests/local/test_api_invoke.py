"""Invoke semantics (§1.5): blocking or not, result, status mapping, records, params, sizes, timeouts."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pytest_openwhisk.local.server import LocalOpenWhisk
from pytest_openwhisk.wait import wait_until

from .conftest import ARRAY, DEVFAIL, FAIL, RAISE, SLEEP, WHISK, Api, FakeInvoker, ServerFactory, notes_of

HEX32 = re.compile(r"^[0-9a-f]{32}$")
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z\s+(stdout|stderr): ")


def stored(api: Api, activation_id: str) -> dict[str, Any]:
    """The stored record, once it exists."""
    return wait_until(
        lambda: api.activation(activation_id).json() if api.activation(activation_id).ok else None,
        what=f"activation {activation_id}",
        timeout=30,
    )


def test_blocking_invoke_returns_the_record_with_empty_logs(api: Api) -> None:
    api.put_action("hello", parameters=[{"key": "stored", "value": "s"}, {"key": "x", "value": 0}])
    response = api.invoke("hello", {"x": 1})
    assert response.status_code == 200
    record = response.json()
    assert response.headers["x-openwhisk-activation-id"] == record["activationId"]
    assert HEX32.match(record["activationId"])
    assert record["namespace"] == "guest"
    assert record["subject"] == "guest"
    assert record["name"] == "hello"
    assert record["version"] == "0.0.1"
    assert record["publish"] is False
    assert record["response"]["status"] == "success"
    assert record["response"]["success"] is True
    assert "statusCode" not in record["response"]
    assert record["response"]["result"] == {"stored": "s", "x": 1}  # body wins over stored params
    assert record["response"]["size"] == len('{"stored":"s","x":1}')
    assert record["duration"] == record["end"] - record["start"]
    assert record["logs"] == []
    assert "cause" not in record
    assert [a["key"] for a in record["annotations"]] == [
        "limits",
        "path",
        "kind",
        "timeout",
        "initTime",
        "waitTime",
        "isolation",
    ]
    notes = notes_of(record)
    assert notes["limits"] == {"concurrency": 1, "logs": 10, "memory": 256, "timeout": 60000}
    assert notes["path"] == "guest/hello"
    assert notes["kind"] == "python:3.11"
    assert notes["timeout"] is False
    assert notes["initTime"] == 5
    assert notes["waitTime"] == 1
    assert notes["isolation"] == "none"
    full = api.activation(record["activationId"]).json()
    assert full["logs"] == ["2024-01-01T00:00:00.000000000Z  stdout: echo hello"]
    assert {k: v for k, v in full.items() if k != "logs"} == {k: v for k, v in record.items() if k != "logs"}
    warm = api.invoke("hello").json()
    assert "initTime" not in notes_of(warm)  # initTime only on a cold start


def test_non_blocking_invoke_is_202_with_the_activation_id(api: Api) -> None:
    api.put_action("hello")
    response = api.invoke("hello", {"x": 1}, blocking=False)
    assert response.status_code == 202
    activation_id = response.json()["activationId"]
    assert response.json() == {"activationId": activation_id}
    assert response.headers["x-openwhisk-activation-id"] == activation_id
    assert stored(api, activation_id)["response"]["result"] == {"x": 1}


def test_result_true_returns_only_the_result(api: Api) -> None:
    api.put_action("hello")
    response = api.invoke("hello", {"x": 1}, result=True)
    assert (response.status_code, response.json()) == (200, {"x": 1})
    assert HEX32.match(response.headers["x-openwhisk-activation-id"])


def test_array_result_is_returned_as_is(api: Api) -> None:
    api.put_action("arr", code=ARRAY)
    assert api.invoke("arr").json() == [1, 2, 3]
    assert api.invoke("arr", result=True).json() == [1, 2, 3]


@pytest.mark.parametrize(
    ("code", "http", "status"),
    [
        (FAIL, 502, "application error"),
        (DEVFAIL, 502, "action developer error"),
        (WHISK, 500, "whisk internal error"),
    ],
)
def test_error_statuses_map_to_http(api: Api, code: str, http: int, status: str) -> None:
    api.put_action("bad", code=code)
    response = api.invoke("bad", {"msg": "nope"})
    assert response.status_code == http
    record = response.json()
    assert record["response"]["status"] == status
    assert record["response"]["success"] is False
    assert "error" in record["response"]["result"]
    only = api.invoke("bad", {"msg": "nope"}, result=True)
    assert only.status_code == http
    assert set(only.json()) == {"error"}
    listed = api.get("/activations", params={"limit": 1}).json()[0]
    assert (
        listed["statusCode"]
        == {"application error": 1, "action developer error": 2, "whisk internal error": 3}[status]
    )


def test_an_invoker_crash_is_recorded_as_whisk_internal_error(api: Api) -> None:
    api.put_action("boom", code=RAISE)
    response = api.invoke("boom")
    assert response.status_code == 500
    record = response.json()
    assert record["response"] == {
        "status": "whisk internal error",
        "success": False,
        "result": {"error": "Failed to provision resources to run the action."},
    }
    logs = api.activation(record["activationId"], "/logs").json()["logs"]
    assert "RuntimeError: invoker exploded" in logs[0]
    accepted = api.invoke("boom", blocking=False).json()["activationId"]
    assert stored(api, accepted)["response"]["status"] == "whisk internal error"


def test_blocking_wait_expires_into_202_and_the_activation_continues(api: Api) -> None:
    api.put_action("slow", code=SLEEP)
    response = api.invoke("slow", {"ms": 600}, timeout=100)
    assert response.status_code == 202
    activation_id = response.json()["activationId"]
    assert api.activation(activation_id).status_code == 404  # still running: not stored yet
    record = stored(api, activation_id)
    assert record["response"]["result"] == {"ms": 600}


def test_default_blocking_wait_comes_from_the_limits(make_server: ServerFactory) -> None:
    _, api = make_server(blocking_wait_ms=150)
    api.put_action("slow", code=SLEEP)
    assert api.invoke("slow", {"ms": 500}).status_code == 202
    response = api.invoke("slow", {"ms": 1}, timeout=151)
    assert response.status_code == 400
    assert response.json()["error"] == (
        "The query parameter 'timeout' was malformed:\nTimeout must be number of milliseconds up to 150."
    )


@pytest.mark.parametrize("value", ["0", "-5", "60001", "abc"])
def test_bad_timeout_is_400(api: Api, value: str) -> None:
    api.put_action("hello")
    response = api.invoke("hello", timeout=value)
    assert response.status_code == 400
    assert response.json()["error"] == (
        "The query parameter 'timeout' was malformed:\nTimeout must be number of milliseconds up to 60000."
    )


def test_bad_blocking_flag_and_payloads_are_400(api: Api) -> None:
    api.put_action("hello")
    response = api.invoke("hello", blocking="sure")  # type: ignore[arg-type]
    assert (
        response.json()["error"]
        == "The query parameter 'blocking' was malformed:\n'sure' is not a valid Boolean value"
    )
    response = api.request(
        "POST", "/actions/hello?blocking=true", data=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("The request content was malformed:\n")
    response = api.request("POST", "/actions/hello?blocking=true", json=[1, 2])
    assert response.status_code == 400
    assert response.json()["error"] == "The request content was malformed:\nJSON object expected"
    empty = api.request("POST", "/actions/hello?blocking=true&result=true")
    assert (empty.status_code, empty.json()) == (200, {})


def test_payload_over_the_limit_is_413(make_server: ServerFactory) -> None:
    _, api = make_server(payload_max_bytes=100)
    api.put_action("hello")
    body = b'{"x": "' + b"y" * 200 + b'"}'
    response = api.request(
        "POST", "/actions/hello?blocking=true", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == f"Request larger than allowed: {len(body)} > 100 bytes."


def test_missing_action_is_404(api: Api) -> None:
    response = api.invoke("nothing")
    assert response.status_code == 404
    assert response.json()["error"] == "The requested resource does not exist."


def test_final_parameters_cannot_be_overridden(api: Api, fake_invoker: FakeInvoker) -> None:
    api.put_action(
        "locked",
        parameters=[{"key": "region", "value": "eu"}, {"key": "unset", "value": None}],
        annotations=[{"key": "final", "value": True}],
    )
    response = api.invoke("locked", {"region": "us"})
    assert response.status_code == 400
    assert (
        response.json()["error"]
        == "Request defines parameters that are not allowed (e.g., reserved properties)."
    )
    assert api.invoke("locked", {"unset": 1, "other": 2}, result=True).json() == {
        "region": "eu",
        "unset": 1,
        "other": 2,
    }


def test_init_parameters_go_to_the_init_env(api: Api, fake_invoker: FakeInvoker) -> None:
    params = [
        {"key": "TOKEN", "value": "t", "init": True},
        {"key": "N", "value": 3, "init": True},
        {"key": "OBJ", "value": {"a": [1]}, "init": True},
        {"key": "NONE", "value": None, "init": True},
        {"key": "plain", "value": 1},
    ]
    assert api.put_action("env", parameters=params).json()["parameters"][0] == {
        "key": "TOKEN",
        "value": "t",
        "init": True,
    }
    assert api.invoke("env", {"x": 1}, result=True).json() == {"plain": 1, "x": 1}
    spec = fake_invoker.requests[-1].action
    assert dict(spec.init_env) == {"TOKEN": "t", "N": "3", "OBJ": '{"a":[1]}', "NONE": ""}


def test_run_request_carries_the_revision_and_identity(
    server_api: tuple[LocalOpenWhisk, Api], fake_invoker: FakeInvoker
) -> None:
    server, api = server_api
    api.put_action(
        "hello",
        limits={"timeout": 2000, "memory": 128},
        annotations=[{"key": "provide-api-key", "value": True}],
    )
    api.request(
        "POST",
        "/actions/hello?blocking=true",
        json={},
        headers={"X-Request-ID": "tid-0000000000000000000000000001"},
    )
    first = fake_invoker.requests[-1]
    assert first.transaction_id == "tid-0000000000000000000000000001"
    assert first.invoker_namespace == "guest"
    assert first.api_key == server.auth
    spec = first.action
    assert (spec.path, spec.name, spec.namespace, spec.kind) == (
        "guest/hello",
        "hello",
        "guest",
        "python:3.11",
    )
    assert (spec.timeout_ms, spec.memory_mb, spec.logs_mb, spec.concurrency) == (2000, 128, 10, 1)
    assert spec.provide_api_key is True
    assert spec.main == "main"
    assert spec.binary is False
    api.invoke("hello")
    assert fake_invoker.requests[-1].action is spec  # same revision -> the same cached spec
    api.put_action("hello", overwrite=True)
    api.invoke("hello")
    updated = fake_invoker.requests[-1].action
    assert updated.revision != spec.revision
    assert updated.version == "0.0.2"
    assert updated.provide_api_key is True  # the annotation survives the update


# --- the real invoker --------------------------------------------------------------------------------------

PY_HELLO = (
    "def main(args):\n    print('hello', args.get('name'))\n"
    "    return {'greeting': 'hi ' + args.get('name', '?')}\n"
)
PY_ERROR = "def main(args):\n    return {'error': 'nope', 'dropped': 1}\n"
PY_RAISE = "def main(args):\n    raise ValueError('bad input')\n"


def test_real_python_action_cold_then_warm_with_logs(real_api: Api) -> None:
    real_api.put_action("rhello", code=PY_HELLO, overwrite=True)
    cold = real_api.invoke("rhello", {"name": "ada"})
    assert cold.status_code == 200, cold.text
    record = cold.json()
    assert record["response"]["result"] == {"greeting": "hi ada"}
    assert record["logs"] == []
    notes = notes_of(record)
    assert notes["initTime"] >= 0
    assert notes["waitTime"] >= 0
    assert notes["isolation"] in ("bwrap", "none")
    assert record["duration"] == record["end"] - record["start"] >= notes["initTime"]
    logs = real_api.activation(record["activationId"], "/logs").json()["logs"]
    assert len(logs) == 1
    assert LOG_LINE.match(logs[0])
    assert logs[0].endswith("stdout: hello ada")
    warm = real_api.invoke("rhello", {"name": "bob"}, result=True)
    assert warm.json() == {"greeting": "hi bob"}
    warm_record = real_api.activation(warm.headers["x-openwhisk-activation-id"]).json()
    assert "initTime" not in notes_of(warm_record)


def test_real_blocking_answer_without_logs_is_the_stored_record(real_api: Api) -> None:
    """No logs: the blocking answer is the stored record's JSON as it is (serialised once)."""
    real_api.put_action("rquiet", code="def main(args):\n    return {'n': args.get('n')}\n", overwrite=True)
    for n in range(3):
        answer = real_api.invoke("rquiet", {"n": n})
        assert answer.status_code == 200
        assert answer.json()["response"]["result"] == {"n": n}
        stored = real_api.activation(answer.headers["x-openwhisk-activation-id"])
        assert answer.content == stored.content
        assert answer.headers["Access-Control-Allow-Origin"] == "*"


def test_real_python_errors(real_api: Api) -> None:
    real_api.put_action("rerror", code=PY_ERROR, overwrite=True)
    response = real_api.invoke("rerror")
    assert response.status_code == 502
    assert response.json()["response"]["result"] == {"error": "nope"}
    assert response.json()["response"]["status"] == "application error"
    real_api.put_action("rraise", code=PY_RAISE, overwrite=True)
    raised = real_api.invoke("rraise", result=True)
    assert raised.status_code == 502
    assert "bad input" in str(raised.json()["error"])


def test_real_action_timeout_is_a_developer_error(real_api: Api) -> None:
    code = "import time\ndef main(args):\n    time.sleep(5)\n    return {}\n"
    real_api.put_action("rslow", code=code, limits={"timeout": 300}, overwrite=True)
    response = real_api.invoke("rslow")
    assert response.status_code == 502
    record = response.json()
    assert record["response"]["status"] == "action developer error"
    assert record["response"]["result"]["error"] == "The action exceeded its time limits of 300 milliseconds."
    assert notes_of(record)["timeout"] is True


def test_real_evict_forces_a_cold_start(real_server: LocalOpenWhisk, real_api: Api) -> None:
    real_api.put_action("rcold", code=PY_HELLO, overwrite=True)
    real_api.invoke("rcold")
    assert "initTime" not in notes_of(real_api.invoke("rcold").json())
    assert real_server.evict("guest/rcold") >= 1
    assert "initTime" in notes_of(real_api.invoke("rcold").json())
