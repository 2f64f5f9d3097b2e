"""The function catalogue: ``functions/<name>/manifest.json`` loader, output checks and deployment.

A manifest names one action (or a sequence of catalogue actions), its runtime kind, its code, its
default limits, a sample input and a check of the output. The modules, one job each:

- :mod:`~pytest_openwhisk.catalog.manifest`: :class:`FunctionSpec`, :func:`load_function`,
  :func:`load_catalog`
- :mod:`~pytest_openwhisk.catalog.checks`: the output check language (:func:`compile_check`,
  :func:`evaluate_check`)
- :mod:`~pytest_openwhisk.catalog.bundle`: zips of binary actions with bundled packages (:func:`zip_path`)
- :mod:`~pytest_openwhisk.catalog.jars`: jars of ``java:*`` functions built with ``javac`` (:func:`jar_path`)
- :mod:`~pytest_openwhisk.catalog.deployment`: :func:`deploy` through the ``ow_action`` fixture (kinds the
  backend lacks fail with :class:`KindUnavailable`)
- :mod:`~pytest_openwhisk.catalog.chains`: figures from chain results
- :mod:`~pytest_openwhisk.catalog.docs`: the Markdown table of ``docs/catalogue.md``
- :mod:`~pytest_openwhisk.catalog.errors`: :class:`ManifestError`, :class:`CheckFailed`,
  :class:`KindUnavailable`
"""

from __future__ import annotations

from pytest_openwhisk.catalog.bundle import build_zip, bundle_files, zip_members, zip_path
from pytest_openwhisk.catalog.chains import chain_overhead_per_step_ms, nested_own_ms
from pytest_openwhisk.catalog.checks import (
    CHECK_OPS,
    TYPES,
    Clause,
    compile_check,
    evaluate_check,
    json_equal,
)
from pytest_openwhisk.catalog.deployment import deploy, offered_kinds, require_kind
from pytest_openwhisk.catalog.docs import markdown_table
from pytest_openwhisk.catalog.errors import CheckFailed, KindUnavailable, ManifestError
from pytest_openwhisk.catalog.jars import GSON_JAR, build_jar, jar_path, java_toolchain
from pytest_openwhisk.catalog.manifest import (
    DEFAULT_ROOT,
    FIELDS,
    KIND_PATTERN,
    LANGUAGES,
    MANIFEST,
    SLO_MODES,
    ZIP_FIELDS,
    FunctionSpec,
    ZipSpec,
    load_catalog,
    load_function,
)

__all__ = [
    "CHECK_OPS",
    "DEFAULT_ROOT",
    "FIELDS",
    "GSON_JAR",
    "KIND_PATTERN",
    "LANGUAGES",
    "MANIFEST",
    "SLO_MODES",
    "TYPES",
    "ZIP_FIELDS",
    "CheckFailed",
    "Clause",
    "FunctionSpec",
    "KindUnavailable",
    "ManifestError",
    "ZipSpec",
    "build_jar",
    "build_zip",
    "bundle_files",
    "chain_overhead_per_step_ms",
    "compile_check",
    "deploy",
    "evaluate_check",
    "jar_path",
    "java_toolchain",
    "json_equal",
    "load_catalog",
    "load_function",
    "markdown_table",
    "nested_own_ms",
    "offered_kinds",
    "require_kind",
    "zip_members",
    "zip_path",
]
