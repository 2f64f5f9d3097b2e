"""Actions collection: create/update shapes, versions, notes_of, list/paging, delete, validation errors."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from pytest_openwhisk.wait import wait_until

from .conftest import ECHO, Api, ServerFactory, notes_of


def _past_ms(stamp: int) -> None:
    """Wait (without a bare sleep) until the clock is past ``stamp`` (epoch ms): the next stamp differs."""
    wait_until(lambda: time.time() * 1000 > stamp + 1, what="the next millisecond", timeout=5, interval=0.001)


def test_create_returns_full_action_json(api: Api) -> None:
    response = api.put_action(
        "hello",
        parameters=[{"key": "a", "value": 1}],
        annotations=[{"key": "web-export", "value": True}],
        limits={"memory": 128},
    )
    assert response.status_code == 200, response.text
    action = response.json()
    assert action["namespace"] == "guest"
    assert action["name"] == "hello"
    assert action["version"] == "0.0.1"
    assert action["publish"] is False
    assert action["exec"] == {"kind": "python:3.11", "code": ECHO, "binary": False}
    assert action["parameters"] == [{"key": "a", "value": 1}]
    assert action["limits"] == {"timeout": 60000, "memory": 128, "logs": 10, "concurrency": 1}
    assert action["annotations"] == [
        {"key": "web-export", "value": True},
        {"key": "provide-api-key", "value": False},
        {"key": "exec", "value": "python:3.11"},
    ]
    assert abs(action["updated"] - time.time() * 1000) < 60_000
    assert api.get("/actions/hello").json() == action


def test_kind_default_resolves_and_main_is_kept(api: Api) -> None:
    body = {"exec": {"kind": "nodejs:default", "code": "function go() {}", "main": "go"}}
    action = api.request("PUT", "/actions/n", json=body).json()
    assert action["exec"] == {"kind": "nodejs:20", "code": "function go() {}", "binary": False, "main": "go"}
    assert notes_of(action)["exec"] == "nodejs:20"


def test_get_without_code(api: Api) -> None:
    api.put_action("hello")
    action = api.get("/actions/hello", params={"code": "false"}).json()
    assert action["exec"] == {"kind": "python:3.11", "binary": False}


def test_binary_detection_follows_exec_is_binary_code(api: Api) -> None:
    zipped = base64.b64encode(b"PK\x03\x04 pretend this is a zip").decode()
    assert api.put_action("zip", code=zipped).json()["exec"]["binary"] is True
    assert api.put_action("padded", code=f"  {zipped}\n").json()["exec"]["binary"] is True
    assert api.put_action("text", code="def main(a): return a").json()["exec"]["binary"] is False
    assert api.put_action("odd", code="abc").json()["exec"]["binary"] is False
    body = {"exec": {"kind": "python:3.11", "code": "def main(a): return a", "binary": True}}
    assert api.request("PUT", "/actions/flag", json=body).json()["exec"]["binary"] is False


def test_exists_without_overwrite_is_409(api: Api) -> None:
    assert api.put_action("hello").status_code == 200
    conflict = api.put_action("hello")
    assert conflict.status_code == 409
    assert conflict.json()["error"] == "resource already exists"


def test_update_bumps_patch_version_and_merges(api: Api) -> None:
    api.put_action(
        "hello",
        parameters=[{"key": "a", "value": 1}],
        annotations=[{"key": "x", "value": 1}, {"key": "y", "value": 2}],
        limits={"timeout": 1000},
    )
    # only limits change: exec, parameters and other limits are kept
    updated = api.request(
        "PUT", "/actions/hello", params={"overwrite": "true"}, json={"limits": {"memory": 512}}
    ).json()
    assert updated["version"] == "0.0.2"
    assert updated["exec"]["code"] == ECHO
    assert updated["parameters"] == [{"key": "a", "value": 1}]
    assert updated["limits"] == {"timeout": 1000, "memory": 512, "logs": 10, "concurrency": 1}
    # annotations: body wins, delAnnotations removed first, exec re-added, provide-api-key kept
    body = {"annotations": [{"key": "y", "value": 3}, {"key": "z", "value": 4}], "delAnnotations": ["x"]}
    updated = api.request("PUT", "/actions/hello", params={"overwrite": "true"}, json=body).json()
    assert updated["version"] == "0.0.3"
    assert notes_of(updated) == {"provide-api-key": False, "exec": "python:3.11", "y": 3, "z": 4}
    # an explicit version wins; new parameters replace the old ones
    body = {"version": "2.0.0", "parameters": [{"key": "b", "value": 2}]}
    updated = api.request("PUT", "/actions/hello", params={"overwrite": "true"}, json=body).json()
    assert updated["version"] == "2.0.0"
    assert updated["parameters"] == [{"key": "b", "value": 2}]
    assert api.put_action("hello", overwrite=True).json()["version"] == "2.0.1"


def test_provide_api_key_is_only_added_on_create(api: Api) -> None:
    api.put_action("hello", annotations=[{"key": "provide-api-key", "value": True}])
    assert notes_of(api.get("/actions/hello").json())["provide-api-key"] is True
    body = {"delAnnotations": ["provide-api-key"]}
    updated = api.request("PUT", "/actions/hello", params={"overwrite": "true"}, json=body).json()
    assert "provide-api-key" not in notes_of(updated)


def test_delete_returns_the_entity_then_404(api: Api) -> None:
    created = api.put_action("hello").json()
    deleted = api.request("DELETE", "/actions/hello")
    assert deleted.status_code == 200
    assert deleted.json() == created
    gone = api.request("DELETE", "/actions/hello")
    assert gone.status_code == 404
    assert gone.json()["error"] == "The requested resource does not exist."


def test_list_newest_first_with_paging_and_count(api: Api) -> None:
    for i in range(5):
        updated = api.put_action(f"a{i}").json()["updated"]  # distinct `updated` stamps (ms)
        _past_ms(updated)
    listed = api.get("/actions").json()
    assert [a["name"] for a in listed] == ["a4", "a3", "a2", "a1", "a0"]
    summary = listed[0]
    assert set(summary) == {
        "namespace",
        "name",
        "version",
        "publish",
        "annotations",
        "limits",
        "exec",
        "updated",
    }
    assert summary["exec"] == {"binary": False}
    assert [a["name"] for a in api.get("/actions", params={"limit": 2, "skip": 1}).json()] == ["a3", "a2"]
    assert api.get("/actions", params={"count": "true"}).json() == {"actions": 5}
    assert api.get("/actions", params={"count": "true", "skip": 4}).json() == {"actions": 1}
    assert len(api.get("/actions", params={"limit": 0}).json()) == 5


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {"limit": 201},
            "The query parameter 'limit' was malformed:\n"
            "The value '201' is not in the range of 0 to 200 for actions.",
        ),
        (
            {"limit": -1},
            "The query parameter 'limit' was malformed:\n"
            "The value '-1' is not in the range of 0 to 200 for actions.",
        ),
        (
            {"limit": "x"},
            "The query parameter 'limit' was malformed:\nThe value 'x' is not an integer for actions.",
        ),
        (
            {"skip": -2},
            "The query parameter 'skip' was malformed:\n"
            "The value '-2' is not greater than or equal to 0 for actions.",
        ),
        (
            {"count": "maybe"},
            "The query parameter 'count' was malformed:\n'maybe' is not a valid Boolean value",
        ),
    ],
)
def test_bad_list_parameters_are_400(api: Api, query: dict[str, Any], message: str) -> None:
    response = api.get("/actions", params=query)
    assert response.status_code == 400
    assert response.json()["error"] == message


def test_package_qualified_actions(api: Api) -> None:
    missing = api.put_action("tools/hello")
    assert missing.status_code == 404  # the package must exist first, as in OpenWhisk
    assert api.request("PUT", "/packages/tools", json={}).status_code == 200
    created = api.put_action("tools/hello")
    assert created.status_code == 200
    assert created.json()["namespace"] == "guest/tools"
    assert api.get("/actions/tools/hello").json()["name"] == "hello"
    api.put_action("plain")
    assert {a["name"] for a in api.get("/actions").json()} == {
        "hello",
        "plain",
    }  # root lists packaged ones too
    in_pkg = api.get("/actions/tools/").json()
    assert [(a["namespace"], a["name"]) for a in in_pkg] == [("guest/tools", "hello")]
    result = api.invoke("tools/hello", {"x": 1}, result=True)
    assert result.json() == {"x": 1}
    assert api.request("DELETE", "/actions/tools/hello").status_code == 200


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("bad*name", 400, "The name of the entity contains illegal characters."),
        ("trailing ", 400, "The name of the entity contains illegal characters."),
        ("-dash-first", 400, "The name of the entity contains illegal characters."),
        ("x" * 257, 400, "Name segement longer than allowed: 257 > 256."),
    ],
)
def test_bad_entity_names(api: Api, name: str, status: int, message: str) -> None:
    response = api.put_action(name)
    assert response.status_code == status
    assert response.json()["error"] == message


def test_good_entity_names(api: Api) -> None:
    for name in ("a", "with space.and@amp&-x", "_under", "x" * 256):
        assert api.put_action(name).status_code == 200, name


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"exec": {"kind": "cobol:1", "code": "x"}},
            "The request content was malformed:\n"
            "The specified runtime 'cobol:1' is not supported by this platform.",
        ),
        (
            {"exec": {"code": "x"}},
            "The request content was malformed:\n'kind' must be a string defined in 'exec'",
        ),
        (
            {"exec": {"kind": "python:3.11"}},
            "The request content was malformed:\n"
            "'code' must be a string defined in 'exec' for 'python:3.11' actions",
        ),
        (
            {"exec": {"kind": "python:3.11", "code": "x", "main": 3}},
            "The request content was malformed:\n"
            "if defined, 'main' be a string in 'exec' for 'python:3.11' actions",
        ),
        ({"parameters": [{"key": "a", "value": 1}]}, "exec undefined"),
        ({}, "exec undefined"),
    ],
)
def test_bad_exec_is_400(api: Api, body: dict[str, Any], message: str) -> None:
    response = api.request("PUT", "/actions/x", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(message)


def test_bad_parameters_and_body_are_400(api: Api) -> None:
    body = {"exec": {"kind": "python:3.11", "code": ECHO}, "parameters": {"a": 1}}
    response = api.request("PUT", "/actions/x", json=body)
    assert response.json()["error"] == "The request content was malformed:\nparameters malformed"
    response = api.request("PUT", "/actions/x", json=[1, 2])
    assert response.json()["error"] == "The request content was malformed:\nJSON object expected"
    response = api.put_action("x", version="1.2")
    assert response.json()["error"] == "The request content was malformed:\nbad semantic version"


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"memory": 1024}, "memory size 1024 MB exceeds allowed threshold of 512 MB"),
        ({"memory": 64}, "memory size 64 MB below allowed threshold of 128 MB"),
        (
            {"timeout": 400000},
            "duration 400000 milliseconds exceeds allowed threshold of 300000 milliseconds",
        ),
        ({"timeout": 50}, "duration 50 milliseconds below allowed threshold of 100 milliseconds"),
        ({"logs": 20}, "log size 20 MB exceeds allowed threshold of 10 MB"),
        ({"concurrency": 5}, "concurrency 5 exceeds allowed threshold of 1"),
        ({"concurrency": 0}, "concurrency 0 below allowed threshold of 1"),
    ],
)
def test_limits_out_of_range_are_400(api: Api, limits: dict[str, int], message: str) -> None:
    response = api.put_action("x", limits=limits)
    assert response.status_code == 400
    assert response.json()["error"] == message


def test_sizes_over_the_limits_are_413(make_server: ServerFactory) -> None:
    _, api = make_server(code_max_bytes=100, parameter_max_bytes=50)
    code = api.put_action("x", code="#" * 101)
    assert code.status_code == 413
    assert code.json()["error"] == "exec larger than allowed: 101 > 100 bytes."
    params = api.put_action("x", parameters=[{"key": "k", "value": "v" * 60}])
    assert params.status_code == 413
    assert params.json()["error"] == "parameters larger than allowed: 63 > 50 bytes."
