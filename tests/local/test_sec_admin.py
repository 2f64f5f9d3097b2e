"""The admin API needs the key, and the docs say so (issue 12 item 14)."""

from __future__ import annotations

from pathlib import Path

import requests

from .conftest import Api

DOCS = Path(__file__).resolve().parents[2] / "docs" / "local.md"


def test_pool_stats_need_the_key(api: Api) -> None:
    anonymous = requests.get(api.apihost + "/admin/v1/pool", timeout=10)
    assert anonymous.status_code == 401
    assert api.get(api.apihost + "/admin/v1/pool").status_code == 200


def test_docs_do_not_say_the_pool_route_is_open() -> None:
    rows = [line for line in DOCS.read_text().splitlines() if line.startswith("| `GET /admin/v1/pool`")]
    assert len(rows) == 1
    assert "no key" not in rows[0]
    assert "same key as the API" in rows[0]
