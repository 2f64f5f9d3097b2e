"""The local backend keeps the embedded server's activations in ``<results dir>/activations.sqlite``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pytest_openwhisk.backends.local import activation_store_path, local_config
from pytest_openwhisk.options import Settings

INNER = """
import json, pathlib

CODE = "def main(args):\\n    print('log', args['n'])\\n    return {'n': args['n']}\\n"

def test_invoke(ow_cluster, ow_action):
    action = ow_action("echo", code=CODE, kind="python:default")
    ids = [action.invoke({"n": n}).activation_id for n in range(3)]
    out = pathlib.Path(__file__).parent / "seen.json"
    out.write_text(json.dumps({"ids": ids, "auth": ow_cluster.auth, "prefix": action.name}))
"""


def _rows(store: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(store) as db:
        return db.execute("SELECT id, name, body FROM activations").fetchall()


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_activations_are_queryable_after_the_run(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(test_store=INNER)
    args = [f"--ow-local-mode={mode}", "--ow-prewarm=none", "-p", "no:cacheprovider"]
    pytester.runpytest(*args).assert_outcomes(passed=1)
    store = pytester.path / ".ow-results" / "activations.sqlite"
    assert store.is_file()
    seen = json.loads((pytester.path / "seen.json").read_text())
    rows = _rows(store)
    assert sorted(row[0] for row in rows) == sorted(seen["ids"])  # the run's activations, all of them
    body = json.loads(rows[0][2])
    assert "log" in body["logs"][0]  # records with their logs
    user, _, key = seen["auth"].partition(":")
    for path in store.parent.glob("activations.sqlite*"):  # no secret in the file (nor its WAL)
        data = path.read_bytes()
        assert key.encode() not in data
        assert user.encode() not in data

    # the next session starts a new store: only its own activations
    pytester.runpytest(*args).assert_outcomes(passed=1)
    again = json.loads((pytester.path / "seen.json").read_text())
    assert sorted(row[0] for row in _rows(store)) == sorted(again["ids"])


def test_store_follows_the_results_dir_and_xdist_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    settings = Settings(results_dir=tmp_path / "results")
    assert local_config(settings).activation_store == str(tmp_path / "results" / "activations.sqlite")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    assert activation_store_path(settings) == tmp_path / "results" / "activations-gw3.sqlite"
