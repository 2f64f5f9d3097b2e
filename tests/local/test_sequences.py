"""Sequences (§5): create checks, execution component by component, records, stop at the first error."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from pytest_openwhisk.local import LocalOpenWhisk
from pytest_openwhisk.local.config import Limits, LocalConfig, PoolConfig

from .conftest import FAIL, INC, Api, FakeInvoker, ServerFactory, notes_of


def _error(response: Any) -> str:
    return str(response.json()["error"])


def test_sequence_action_json(api: Api) -> None:
    api.put_action("a", code=INC)
    api.put_action("b", code=INC)
    created = api.put_sequence("seq", ["/_/a", "/guest/b"])
    assert created.status_code == 200, created.text
    action = created.json()
    assert action["exec"] == {"kind": "sequence", "components": ["/guest/a", "/guest/b"]}
    assert action["parameters"] == [{"key": "_actions", "value": ["/guest/a", "/guest/b"]}]
    assert notes_of(action)["exec"] == "sequence"
    assert api.get("/actions/seq", params={"code": "false"}).json()["exec"]["components"] == [
        "/guest/a",
        "/guest/b",
    ]


def test_result_flows_through_components_merged_over_their_params(
    api: Api, fake_invoker: FakeInvoker
) -> None:
    api.put_action("a", code=INC)
    api.put_action("b", code=INC, parameters=[{"key": "fromb", "value": True}, {"key": "n", "value": 100}])
    api.put_sequence("seq", ["/_/a", "/_/b", "/_/a"])
    response = api.invoke("seq", {"n": 1})
    assert response.status_code == 200
    record = response.json()
    assert record["response"]["result"] == {"n": 4, "fromb": True}  # the input (n=2) wins over b's n=100
    assert record["response"]["status"] == "success"
    assert len(record["logs"]) == 3  # component activation ids, also in the blocking response
    assert [a["key"] for a in record["annotations"]] == ["topmost", "path", "kind", "waitTime", "limits"]
    notes = notes_of(record)
    assert notes["topmost"] is True
    assert notes["kind"] == "sequence"
    assert notes["path"] == "guest/seq"
    components = [api.activation(i).json() for i in record["logs"]]
    assert record["duration"] == sum(c["duration"] for c in components)
    for component in components:
        assert component["cause"] == record["activationId"]
        assert notes_of(component)["causedBy"] == "sequence"
    assert [c["name"] for c in components] == ["a", "b", "a"]
    assert [r.params for r in fake_invoker.requests] == [
        {"n": 1},
        {"fromb": True, "n": 2},
        {"n": 3, "fromb": True},
    ]
    assert api.invoke("seq", {"n": 1}, result=True).json() == {"n": 4, "fromb": True}
    assert len(api.get("/activations").json()) == 8  # 2 sequences + 6 components


def test_sequence_stops_at_the_first_error(api: Api) -> None:
    api.put_action("a", code=INC)
    api.put_action("f", code=FAIL)
    api.put_sequence("seq", ["/_/a", "/_/f", "/_/a"])
    response = api.invoke("seq", {"msg": "broken"})
    assert response.status_code == 502
    record = response.json()
    assert record["response"]["status"] == "application error"
    assert record["response"]["result"] == {"error": "broken"}
    assert len(record["logs"]) == 2
    listed = api.get("/activations", params={"name": "seq"}).json()[0]
    assert listed["statusCode"] == 1


def test_nested_sequences_have_cause_and_topmost_false(api: Api) -> None:
    api.put_action("a", code=INC)
    api.put_sequence("inner", ["/_/a", "/_/a"])
    api.put_sequence("outer", ["/_/a", "/_/inner"])
    record = api.invoke("outer", {"n": 0}).json()
    assert record["response"]["result"] == {"n": 3}
    inner = api.activation(record["logs"][1]).json()
    assert inner["name"] == "inner"
    assert inner["cause"] == record["activationId"]
    notes = notes_of(inner)
    assert notes["topmost"] is False
    assert notes["causedBy"] == "sequence"
    for component_id in inner["logs"]:
        assert api.activation(component_id).json()["cause"] == inner["activationId"]
    assert record["duration"] == api.activation(record["logs"][0]).json()["duration"] + inner["duration"]


def test_non_blocking_sequence(api: Api) -> None:
    api.put_action("a", code=INC)
    api.put_sequence("seq", ["/_/a"])
    response = api.invoke("seq", {"n": 1}, blocking=False)
    assert response.status_code == 202
    assert "activationId" in response.json()


def test_a_deleted_component_fails_the_sequence_at_run_time(api: Api) -> None:
    api.put_action("a", code=INC)
    api.put_action("b", code=INC)
    api.put_sequence("seq", ["/_/a", "/_/b"])
    api.request("DELETE", "/actions/b")
    response = api.invoke("seq", {"n": 0})
    assert response.status_code == 502
    assert response.json()["response"]["result"] == {"error": "Sequence component does not exist."}
    assert len(response.json()["logs"]) == 1


@pytest.mark.parametrize(
    ("components", "message"),
    [
        ([], "No component specified for the sequence."),
        (["/_/seq"], "Sequence may not refer to itself."),
        (["/_/missing"], "Sequence component does not exist."),
    ],
)
def test_create_checks(api: Api, components: list[str], message: str) -> None:
    response = api.put_sequence("seq", components)
    assert response.status_code == 400
    assert _error(response) == message


def test_self_reference_through_a_nested_sequence(api: Api) -> None:
    api.put_action("a", code=INC)
    api.put_sequence("inner", ["/_/a"])
    api.put_sequence("outer", ["/_/inner"])
    response = api.put_sequence("inner", ["/_/outer"], overwrite=True)  # inner -> outer -> inner
    assert response.status_code == 400
    assert _error(response) == "Sequence may not refer to itself."
    turned = api.put_sequence("a", ["/_/outer"], overwrite=True)  # an action becoming a sequence of itself
    assert _error(turned) == "Sequence may not refer to itself."


def test_malformed_component_names(api: Api) -> None:
    response = api.put_sequence("seq", ["justaname"])
    assert response.status_code == 400
    assert _error(response) == (
        "The request content was malformed:\nrequirement failed: The fully qualified name "
        "of the entity must contain at least the namespace and the name of the entity."
    )


def test_too_many_actions_after_inlining(make_server: ServerFactory) -> None:
    _, api = make_server(sequence_max_length=3)
    api.put_action("a", code=INC)
    assert api.put_sequence("two", ["/_/a", "/_/a"]).status_code == 200
    assert _error(api.put_sequence("four", ["/_/a"] * 4)) == "Too many actions in the sequence."
    assert api.put_sequence("three", ["/_/two", "/_/a"]).status_code == 200
    assert _error(api.put_sequence("five", ["/_/two", "/_/three"])) == "Too many actions in the sequence."


def test_components_are_not_throttled(make_server: ServerFactory) -> None:
    _, api = make_server(invocations_per_minute=2)
    api.put_action("a", code=INC)
    api.put_sequence("seq", ["/_/a"] * 5)
    assert api.invoke("seq", {"n": 0}, result=True).json() == {"n": 5}


# --- the real invoker --------------------------------------------------------------------------------------


def test_real_python_and_nodejs_sequence(real_api: Api) -> None:
    import shutil

    real_api.put_action(
        "rs-double", code="def main(a):\n    return {'v': a.get('v', 1) * 2}\n", overwrite=True
    )
    components = ["/_/rs-double", "/_/rs-double"]
    if shutil.which("node"):
        real_api.put_action(
            "rs-js", kind="nodejs:20", code="function main(a) { return {v: a.v + 1}; }", overwrite=True
        )
        components.append("/_/rs-js")
    real_api.put_sequence("rs-seq", components, overwrite=True)
    response = real_api.invoke("rs-seq", {"v": 3})
    assert response.status_code == 200, response.text
    expected = 12 + (1 if len(components) == 3 else 0)
    assert response.json()["response"]["result"] == {"v": expected}
    assert len(response.json()["logs"]) == len(components)


CONDUCTOR = """
def main(args):
    if "error" in args:
        return {"error": args["error"]}
    step = args.get("step", 0)
    if step == 0:
        state = {"step": 1, "next": args.get("next", "cd-inc")}
        return {"action": "/_/cd-inc", "params": {"n": args["n"]}, "state": state}
    if step == 1:
        return {"action": args["next"], "params": {"n": args["n"]}, "state": {"step": 2}}
    return {"params": {"n": args["n"], "done": True}}
"""
CONDUCTOR_NOTE = [{"key": "conductor", "value": True}]


def test_conductor_action_composes_its_components(real_api: Api) -> None:
    real_api.put_action("cd-inc", code="def main(a):\n    return {'n': a['n'] + 1}\n", overwrite=True)
    real_api.put_action("cd-main", code=CONDUCTOR, overwrite=True, annotations=CONDUCTOR_NOTE)
    response = real_api.invoke("cd-main", {"n": 1})
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["response"]["result"] == {"n": 3, "done": True}
    notes = notes_of(record)
    assert (notes["kind"], notes["conductor"], notes["topmost"]) == ("sequence", True, True)
    assert len(record["logs"]) == 5  # conductor, component, conductor, component, conductor
    names = []
    for activation_id in record["logs"]:
        step = real_api.activation(activation_id).json()
        assert step["cause"] == record["activationId"]
        names.append(step["name"])
    assert names == ["cd-main", "cd-inc", "cd-main", "cd-inc", "cd-main"]
    assert record["duration"] >= 0


def test_conductor_naming_a_missing_action_gets_the_error(real_api: Api) -> None:
    real_api.put_action("cd-inc", code="def main(a):\n    return {'n': a['n'] + 1}\n", overwrite=True)
    real_api.put_action("cd-main", code=CONDUCTOR, overwrite=True, annotations=CONDUCTOR_NOTE)
    response = real_api.invoke("cd-main", {"n": 1, "next": "cd-missing"})
    assert response.status_code == 502
    assert response.json()["response"]["result"] == {
        "error": "Failed to resolve action with name 'guest/cd-missing' during composition."
    }


def test_composition_length_is_bounded() -> None:
    loop = (
        "def main(a):\n    if 'error' in a:\n        return {'error': a['error']}\n"
        "    return {'action': 'inc', 'params': {'n': a.get('n', 0)}}\n"
    )
    config = LocalConfig.benchmark(
        pool=PoolConfig(prewarm=()), limits=replace(Limits(), sequence_max_length=2)
    )
    with LocalOpenWhisk(config) as ow:
        api = Api(ow.apihost, ow.auth)
        api.put_action("inc", code="def main(a):\n    return {'n': a['n'] + 1}\n")
        api.put_action("loop", code=loop, annotations=CONDUCTOR_NOTE)
        record = api.invoke("loop", {"n": 0}).json()
        assert record["response"]["result"] == {"error": "Too many actions in the composition."}
        assert len(record["logs"]) == 6  # 2 components, 3 conductor runs, 1 more told the error
        api.close()


def test_conductor_naming_an_unparsable_action_gets_compact_json(real_api: Api) -> None:
    """``compositionComponentInvalid`` quotes the value as spray prints it (compact, UTF-8)."""
    conductor = (
        "def main(a):\n    if 'error' in a:\n        return {'error': a['error']}\n"
        "    return {'action': {'a': [1, 'é']}}\n"
    )
    real_api.put_action("cd-bad", code=conductor, overwrite=True, annotations=CONDUCTOR_NOTE)
    response = real_api.invoke("cd-bad", {})
    assert response.status_code == 502
    assert response.json()["response"]["result"] == {
        "error": 'Failed to parse action name from json value {"a":[1,"é"]} during composition.'
    }
