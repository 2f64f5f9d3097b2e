"""Property-based run of OpenWhisk's own swagger (``apiv1swagger.json``) against the standalone server.

Run: ``python -m pytest benchmarks/embedded/test_swagger_fuzz.py -p no:cacheprovider`` (needs
``schemathesis``, a dev dependency). The embedded OpenWhisk runs as ``serve`` in a child process
(``LocalOpenWhiskProcess``, real invoker, benchmark throttles). schemathesis generates requests for each
of the 33 operations of OpenWhisk's API description (a copy of the Apache-2.0 file with its attribution,
``pytest_openwhisk/local/apiv1swagger.json``, also served at ``GET /api/v1/api-docs``); the
``{namespace}`` path parameter is ``_`` or ``guest`` and the entity names are steered to a few fixed ones
in 4 requests out of 5, so the generated requests reach the collections (and each other's entities)
instead of stopping at 403 or 404.

Asserted: no response is a 5xx, and every operation is implemented: at least one answer other than 403
(another namespace), 405 or the "no such route" 404. Reported (printed and in
``.ow-results/swagger-fuzz.json``): per operation the number of requests and the status codes seen.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

import pytest_openwhisk.local as local_pkg  # noqa: E402
from pytest_openwhisk.local.config import LocalConfig, PoolConfig  # noqa: E402
from pytest_openwhisk.local.process import LocalOpenWhiskProcess  # noqa: E402

SWAGGER = Path(local_pkg.__file__).with_name("apiv1swagger.json")
ROUTE_NOT_FOUND = "The requested resource could not be found."
MAX_EXAMPLES = 25
SEEN: dict[str, Counter[int]] = defaultdict(Counter)
IMPLEMENTED: dict[str, bool] = {}
FIVE_XX: list[str] = []
#: entity names the generated requests are steered to (4 in 5 requests), so PUTs create what GETs, POSTs and
#: DELETEs then find; the fifth keeps whatever the generator made (fuzzed names, namespaces, ids)
NAMES = ("fz", "fz2", "default")
NAME_PARAMETERS = ("actionName", "packageName", "triggerName", "ruleName")
_turn = itertools.count()


@pytest.fixture(scope="session")
def server() -> Iterator[LocalOpenWhiskProcess]:
    """The standalone embedded OpenWhisk (child process, real invoker, no stem cells)."""
    with LocalOpenWhiskProcess(LocalConfig.benchmark(pool=PoolConfig(prewarm=()))) as ow:
        yield ow


@pytest.fixture(scope="session")
def api_schema(server: LocalOpenWhiskProcess) -> Any:
    """OpenWhisk's swagger, pointed at the server."""
    config = schemathesis.config.SchemathesisConfig.from_dict({"base-url": f"{server.apihost}/api/v1"})
    return schemathesis.openapi.from_path(SWAGGER, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()  # type: ignore[untyped-decorator]
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case: Any, server: LocalOpenWhiskProcess) -> None:
    """Every generated request gets a non-5xx answer."""
    label = f"{case.operation.method.upper()} {case.operation.path}"
    turn = next(_turn)
    if case.path_parameters and turn % 5:
        if "namespace" in case.path_parameters:
            case.path_parameters["namespace"] = "_" if turn % 2 else "guest"
        for i, name in enumerate(NAME_PARAMETERS):
            if name in case.path_parameters:
                case.path_parameters[name] = NAMES[(turn + i) % len(NAMES)]
    user, _, key = server.auth.partition(":")
    response = case.call(auth=(user, key), timeout=60)
    SEEN[label][response.status_code] += 1
    status = response.status_code
    route_missing = status == 405 or (status == 404 and ROUTE_NOT_FOUND in response.text)
    IMPLEMENTED[label] = IMPLEMENTED.get(label, False) or (
        status < 500 and status != 403 and not route_missing
    )
    if response.status_code >= 500:
        FIVE_XX.append(f"{label} -> {response.status_code}: {response.text[:200]}")
    assert response.status_code < 500, f"{label}: {response.status_code} {response.text[:300]}"


def test_report(request: pytest.FixtureRequest) -> None:
    """Print and save the per-operation table (runs after the fuzzing in file order)."""
    if not SEEN:
        pytest.skip("the fuzz run did not happen")
    rows = sorted(SEEN)
    implemented = sum(1 for r in rows if IMPLEMENTED.get(r))
    out = {
        "operations": len(rows),
        "implemented": implemented,
        "requests": sum(sum(c.values()) for c in SEEN.values()),
        "five_xx": FIVE_XX,
        "by_operation": {
            r: {"implemented": IMPLEMENTED.get(r, False), "statuses": dict(SEEN[r])} for r in rows
        },
    }
    folder = Path(request.config.rootpath) / ".ow-results"
    folder.mkdir(exist_ok=True)
    (folder / "swagger-fuzz.json").write_text(json.dumps(out, indent=2))
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    summary = f"operations: {len(rows)}, implemented: {implemented}, requests: {out['requests']}"
    lines = [f"swagger {summary}, 5xx: {len(FIVE_XX)}"]
    lines += [
        f"  {'yes' if IMPLEMENTED.get(r) else 'NO '} {r}: {dict(sorted(SEEN[r].items()))}" for r in rows
    ]
    if reporter is not None:
        for line in lines:
            reporter.write_line(line)
    assert not FIVE_XX
    assert implemented == len(rows), [r for r in rows if not IMPLEMENTED.get(r)]
