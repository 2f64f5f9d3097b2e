"""The controller's domain code stays out of the HTTP layer and its modules import without cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pytest_openwhisk.local as local_pkg
from pytest_openwhisk.local import action_put, sequences
from pytest_openwhisk.local.config import Limits
from pytest_openwhisk.local.entity_store import EntityStore
from pytest_openwhisk.local.httpapi import FAULT_STATUS
from pytest_openwhisk.local.types import ControllerError, Fault

LOCAL = Path(local_pkg.__file__).parent
DOMAIN = (
    "controller",
    "sequences",
    "entities",
    "action_put",
    "action_doc",
    "package_doc",
    "trigger_doc",
    "rule_doc",
    "entity_store",
    "records",
    "throttle",
    "types",
    "manifest",
)


def _imports(module: str) -> set[str]:
    """Modules of ``pytest_openwhisk.local`` (and third-party roots) that ``module`` imports, at any level."""
    tree = ast.parse((LOCAL / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "pytest_openwhisk.local":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("pytest_openwhisk.local."):
                found.add(node.module.rsplit(".", 1)[1])
            else:
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
    return found


@pytest.mark.parametrize("module", DOMAIN)
def test_domain_modules_do_not_import_the_http_layer(module: str) -> None:
    assert not _imports(module) & {"httpapi", "aiohttp", "server"}, module


def test_controller_and_sequences_have_no_cycle() -> None:
    assert "sequences" in _imports("controller")
    assert "controller" not in _imports("sequences")


def test_every_fault_has_a_status() -> None:
    assert set(FAULT_STATUS) == set(Fault)


def test_domain_errors_carry_openwhisk_messages() -> None:
    store = EntityStore()
    with pytest.raises(ControllerError) as info:
        sequences.check_create(store.get_action, "guest/s", [], Limits().sequence_max_length)
    assert (info.value.fault, info.value.message) == (Fault.BAD_REQUEST, sequences.NO_COMPONENT)
    with pytest.raises(ControllerError) as info:
        action_put.parse_put(
            {"exec": {"kind": "python:3.11", "code": "x" * 20}}, Limits(code_max_bytes=10), "guest"
        )
    assert info.value.fault is Fault.TOO_LARGE
    assert info.value.message == "exec larger than allowed: 20 > 10 bytes."
