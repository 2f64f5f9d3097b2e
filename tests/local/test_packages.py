"""Packages, bindings and parameter layering (invocation > action > binding > package), init and final."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import ECHO, Api, FakeInvoker, notes_of

FINAL = {"key": "final", "value": True}


def _kv(**params: Any) -> list[dict[str, Any]]:
    return [{"key": k, "value": v} for k, v in params.items()]


def _put_pkg(api: Api, name: str, **body: Any) -> dict[str, Any]:
    response = api.request("PUT", f"/packages/{name}", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_package_crud_list_and_actions(api: Api) -> None:
    created = _put_pkg(api, "tools", parameters=_kv(a=1), annotations=_kv(note="x"))
    assert created["binding"] == {}
    assert created["version"] == "0.0.1"
    assert api.request("PUT", "/packages/tools", json={}).status_code == 409
    updated = api.request(
        "PUT", "/packages/tools", params={"overwrite": "true"}, json={"publish": True}
    ).json()
    assert (updated["version"], updated["publish"], updated["parameters"]) == ("0.0.2", True, _kv(a=1))
    api.put_action("tools/hello")
    got = api.get("/packages/tools").json()
    assert got["actions"] == [
        {"name": "hello", "version": "0.0.1", "annotations": got["actions"][0]["annotations"]}
    ]
    assert got["feeds"] == []
    [summary] = api.get("/packages").json()
    assert summary["binding"] is False
    assert set(summary) == {"namespace", "name", "version", "publish", "annotations", "binding", "updated"}
    assert api.get("/packages", params={"count": "true"}).json() == {"packages": 1}


def test_reserved_name_and_missing_package(api: Api) -> None:
    reserved = api.request("PUT", "/packages/default", json={})
    assert (reserved.status_code, reserved.json()["error"]) == (400, "Package name 'default' is reserved.")
    assert api.get("/packages/nope").status_code == 404
    assert api.put_action("nope/a").status_code == 404
    assert api.invoke("nope/a").status_code == 404


def test_delete_needs_force_when_not_empty(api: Api) -> None:
    _put_pkg(api, "tools")
    api.put_action("tools/a")
    api.put_action("tools/b")
    refused = api.request("DELETE", "/packages/tools")
    assert refused.status_code == 409
    assert refused.json()["error"] == (
        "Package not empty (contains 2 entities). Set force param or delete package contents."
    )
    assert api.request("DELETE", "/packages/tools", params={"force": "true"}).status_code == 200
    assert api.get("/actions/tools/a").status_code == 404


def test_precedence_invocation_action_binding_package(api: Api) -> None:
    _put_pkg(api, "pkg", parameters=_kv(p="package", b="package", a="package", i="package"))
    api.put_action("pkg/echo", ECHO, parameters=_kv(a="action", i="action"))
    _put_pkg(
        api, "bound", binding={"namespace": "_", "name": "pkg"}, parameters=_kv(b="binding", a="binding")
    )
    direct = api.invoke("pkg/echo", {"i": "invocation"}, result=True).json()
    assert direct == {"p": "package", "b": "package", "a": "action", "i": "invocation"}
    through = api.invoke("bound/echo", {"i": "invocation"}, result=True).json()
    assert through == {"p": "package", "b": "binding", "a": "action", "i": "invocation"}
    record = api.invoke("bound/echo").json()
    assert notes_of(record)["binding"] == "guest/bound"
    assert notes_of(record)["path"] == "guest/pkg/echo"
    assert "binding" not in notes_of(api.invoke("pkg/echo").json())
    fetched = api.get("/actions/bound/echo").json()  # GET shows the merged parameters, as OpenWhisk does
    assert {p["key"]: p["value"] for p in fetched["parameters"]} == {
        "p": "package",
        "b": "binding",
        "a": "action",
        "i": "action",
    }
    assert fetched["namespace"] == "guest/pkg"


def test_binding_get_lists_the_bound_packages_actions(api: Api) -> None:
    _put_pkg(api, "pkg", parameters=_kv(x=1))
    api.put_action("pkg/a")
    binding = _put_pkg(api, "b", binding={"namespace": "guest", "name": "pkg"}, parameters=_kv(y=2))
    assert binding["binding"] == {"namespace": "guest", "name": "pkg"}
    assert {"key": "binding", "value": {"namespace": "guest", "name": "pkg"}} in binding["annotations"]
    got = api.get("/packages/b").json()
    assert [a["name"] for a in got["actions"]] == ["a"]
    assert got["parameters"] == _kv(x=1, y=2)
    assert [a["name"] for a in api.get("/actions/b/").json()] == ["a"]
    assert api.get("/packages").json()[0]["binding"] == {"namespace": "guest", "name": "pkg"}


@pytest.mark.parametrize(
    ("setup", "binding", "status", "message"),
    [
        ((), "missing", 400, "Binding references a package that does not exist."),
        (("pkg", "bnd"), "bnd", 400, "Cannot bind to another package binding."),
        (("action",), "act", 409, "Cannot bind to a resource that is not a package."),
    ],
)
def test_binding_errors(api: Api, setup: tuple[str, ...], binding: str, status: int, message: str) -> None:
    if "pkg" in setup:
        _put_pkg(api, "pkg")
    if "bnd" in setup:
        _put_pkg(api, "bnd", binding={"namespace": "_", "name": "pkg"})
    if "action" in setup:
        api.put_action("act")
    response = api.request("PUT", "/packages/new", json={"binding": {"namespace": "_", "name": binding}})
    assert (response.status_code, response.json()["error"]) == (status, message)


def test_package_cannot_become_a_binding_and_bindings_are_read_only(api: Api) -> None:
    _put_pkg(api, "pkg")
    _put_pkg(api, "other")
    turned = api.request(
        "PUT",
        "/packages/pkg",
        params={"overwrite": "true"},
        json={"binding": {"namespace": "_", "name": "other"}},
    )
    assert (turned.status_code, turned.json()["error"]) == (
        409,
        "Resource is a package and cannot be converted into a binding.",
    )
    _put_pkg(api, "bnd", binding={"namespace": "_", "name": "pkg"})
    write = api.put_action("bnd/a")
    assert (write.status_code, write.json()["error"]) == (400, "Operation not permitted on package binding.")


def test_one_name_space_for_all_collections(api: Api) -> None:
    api.put_action("shared")
    for collection in ("packages", "triggers", "rules"):
        response = api.request("PUT", f"/{collection}/shared", json={})
        assert response.status_code == 409, collection
        assert response.json()["error"] == "Resource by this name exists but is not in this collection."
    assert api.get("/triggers/shared").status_code == 409


def test_final_parameters_include_the_packages(api: Api) -> None:
    _put_pkg(api, "pkg", parameters=_kv(secret="s"))
    api.put_action("pkg/fin", ECHO, parameters=_kv(own=1, unset=None), annotations=[FINAL])
    for override in ({"secret": "x"}, {"own": 2}):
        response = api.invoke("pkg/fin", override)
        assert response.status_code == 400
        assert response.json()["error"] == (
            "Request defines parameters that are not allowed (e.g., reserved properties)."
        )
    assert api.invoke("pkg/fin", {"unset": 1}, result=True).json()["unset"] == 1  # null is not "defined"
    api.put_action("notfinal", ECHO, parameters=_kv(own=1), annotations=[{"key": "final", "value": "yes"}])
    assert api.invoke("notfinal", {"own": 2}, result=True).json() == {"own": 2}  # only boolean true counts


def test_init_parameters_go_to_init_env_never_to_run(api: Api, fake_invoker: FakeInvoker) -> None:
    _put_pkg(api, "pkg", parameters=[{"key": "pkg_init", "value": {"a": 1}, "init": True}])
    params = [{"key": "token", "value": "t", "init": True}, {"key": "plain", "value": 1}]
    api.put_action("pkg/act", ECHO, parameters=params)
    result = api.invoke("pkg/act", {"token": "from-request", "x": 2}, result=True).json()
    assert result == {"plain": 1, "x": 2}
    spec = fake_invoker.requests[-1].action
    assert dict(spec.init_env) == {"pkg_init": '{"a":1}', "token": "t"}


def test_sequence_invoked_through_a_binding_has_the_binding_annotation(api: Api) -> None:
    """``SequenceActions`` annotates a sequence's record with the binding it was invoked through."""
    _put_pkg(api, "pkg")
    api.put_action("pkg/echo", ECHO)
    seq = {"exec": {"kind": "sequence", "components": ["/_/pkg/echo"]}}
    assert api.request("PUT", "/actions/pkg/seq", json=seq).status_code == 200
    _put_pkg(api, "bound", binding={"namespace": "_", "name": "pkg"})
    record = api.invoke("bound/seq").json()
    assert record["response"]["success"] is True, record
    assert notes_of(record)["binding"] == "guest/bound"
    assert "binding" not in notes_of(api.invoke("pkg/seq").json())
