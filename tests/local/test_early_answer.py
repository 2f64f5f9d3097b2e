"""A blocking invoke is answered from the result, before the logs are collected (OpenWhisk's invoker sends
its result first); reads of the activations collection still see the whole record with its logs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from pytest_openwhisk.local.server import LocalOpenWhisk
from tests.local.conftest import HELD, Api, FakeInvoker, ServerFactory

HELD_LOGS = ["2024-01-01T00:00:00.000000000Z  stdout: held logs"]


async def _release(fake: FakeInvoker) -> None:
    fake.release()


def _server(make_server: ServerFactory, fake_invoker: FakeInvoker) -> tuple[LocalOpenWhisk, Api]:
    server, api = make_server(invoker=fake_invoker)
    assert api.put_action("held", HELD).status_code == 200
    return server, api


def test_blocking_answer_does_not_wait_for_the_logs(
    make_server: ServerFactory, fake_invoker: FakeInvoker
) -> None:
    server, api = _server(make_server, fake_invoker)
    # the fake holds the logs for 30 s unless released: an answer that waited for them would time out
    response = api.session.post(
        f"{api.base}/actions/held", params={"blocking": "true"}, json={"ms": 30_000, "x": 1}, timeout=10
    )
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["response"]["result"] == {"ms": 30_000, "x": 1}
    assert record["logs"] == []
    assert fake_invoker.held_logs == 1  # answered while the invoker still collects the logs
    server._call(_release(fake_invoker))
    stored = api.activation(record["activationId"]).json()
    assert stored["logs"] == HELD_LOGS
    assert stored["response"] == record["response"]


def test_reads_right_after_an_early_answer_see_the_record_with_its_logs(
    make_server: ServerFactory, fake_invoker: FakeInvoker
) -> None:
    _, api = _server(make_server, fake_invoker)
    for read in ("", "/logs", "/result", "list"):
        answer = api.invoke("held", {"ms": 400})
        assert answer.status_code == 200
        assert answer.json()["logs"] == []
        activation_id = answer.json()["activationId"]
        if read == "list":  # the record is stored 400 ms after the answer: the list waits for it
            listed = api.get("/activations", params={"docs": "true", "limit": 1}).json()
            assert [a["activationId"] for a in listed] == [activation_id]
            assert listed[0]["logs"] == HELD_LOGS
            continue
        got = api.activation(activation_id, read)
        assert got.status_code == 200, (read, got.text)
        if read == "/logs":
            assert got.json() == {"logs": HELD_LOGS}
        elif read == "/result":
            assert got.json()["result"] == {"ms": 400}
        else:
            assert got.json()["logs"] == HELD_LOGS


def test_result_only_answers_come_early_for_concurrent_activations(
    make_server: ServerFactory, fake_invoker: FakeInvoker
) -> None:
    server, api = _server(make_server, fake_invoker)
    with ThreadPoolExecutor(2) as pool:  # two activations hold their logs at once
        both = list(pool.map(lambda q: api.invoke("held", {"ms": 30_000, "q": q}, result=True), (1, 2)))
    assert [r.json() for r in both] == [{"ms": 30_000, "q": 1}, {"ms": 30_000, "q": 2}]
    assert fake_invoker.held_logs == 2
    server._call(_release(fake_invoker))
    listed = api.get("/activations", params={"docs": "true"}).json()
    assert sorted(a["response"]["result"]["q"] for a in listed) == [1, 2]
    assert all(a["logs"] == HELD_LOGS for a in listed)


def test_sequential_blocking_invokes_stay_on_one_warm_container(real_api: Api) -> None:
    """A blocking answer never comes before its container is free again: a client that sends the next
    invoke as soon as it has the answer always finds the warm container (one cold start in all)."""
    code = "def main(args):\n    print('line', args['i'])\n    return {'i': args['i']}\n"
    real_api.put_action("seq-one", code=code, overwrite=True)
    records = [real_api.invoke("seq-one", {"i": i}).json() for i in range(150)]
    assert [r["response"]["result"] for r in records] == [{"i": i} for i in range(150)]
    cold = [r for r in records if any(a["key"] == "initTime" for a in r["annotations"])]
    assert len(cold) == 1, f"{len(cold)} cold starts in 150 sequential invokes"
    logs = real_api.activation(records[-1]["activationId"], "/logs").json()["logs"]
    assert [line.split("stdout: ")[1] for line in logs] == ["line 149"]
