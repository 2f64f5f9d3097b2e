"""``pytest-openwhisk render``: what a kind/existing run would deploy, rendered offline by a real Helm engine.

``pytest-openwhisk render --ow-cluster=kind|existing [--ow-* options] [--ow-chart DIR] --output DIR``
writes ``DIR/values.yaml`` (the composed values), ``DIR/runtimes.json`` (the runtimes manifest we add to
the chart) and ``DIR/manifests.yaml`` (every object the install would create, one YAML document each)
with the ``helm`` executable when it is on PATH, otherwise the Helm engine embedded by helm-python-sdk.
Secret values are replaced by ``<redacted>`` in what is written. Exit 0, or 2 with a message naming the
bad value and the fix.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.kube.chart import chart_metadata, check_chart_dir, prepare_chart
from pytest_openwhisk.kube.values import compose
from pytest_openwhisk.options import OPTIONS, Settings

EXIT_OK, EXIT_USAGE = 0, 2
BASE_FILES = {"kind": "openwhisk-kind.yaml", "existing": "openwhisk-cluster.yaml"}
REDACTED = "<redacted>"


@dataclass
class Rendered:
    """The result of rendering a release: values, runtimes manifest, objects and which engine did it."""

    values: dict[str, Any]
    manifest: dict[str, Any]
    objects: list[dict[str, Any]] = field(default_factory=list)
    engine: str = ""
    chart: dict[str, Any] = field(default_factory=dict)

    def find(self, kind: str, name: str) -> dict[str, Any]:
        """The object of ``kind`` named ``name``; KeyError naming what exists."""
        for obj in self.objects:
            if obj.get("kind") == kind and obj.get("metadata", {}).get("name") == name:
                return obj
        names = sorted(o["metadata"]["name"] for o in self.objects if o.get("kind") == kind)
        raise KeyError(f"no {kind} {name!r}; rendered {kind}s: {names}")


def helm_engine() -> str:
    """``helm <path>`` when the binary is on PATH, else ``helm-python-sdk <version>``."""
    found = shutil.which("helm")
    if found:
        return f"helm {found}"
    import helm_python

    return f"helm-python-sdk {helm_python.__version__} (Helm {helm_python.helm_sdk_version()})"


def render_chart(
    chart_dir: Path, values: dict[str, Any], release: str, namespace: str
) -> tuple[list[str], str]:
    """The chart's manifests (YAML texts, NOTES excluded) rendered offline, and the engine used."""
    engine = helm_engine()
    if engine.startswith("helm "):
        binary = engine.split(" ", 1)[1]
        done = subprocess.run(
            [binary, "template", release, str(chart_dir), "--namespace", namespace, "--values", "-"],
            input=json.dumps(values),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise ConfigError(
                f"helm template of {chart_dir} failed: {done.stderr.strip()[-1500:]}; check the "
                "values (--ow-values) against the chart"
            )
        return [done.stdout], engine
    import helm_python

    try:
        chart = helm_python.Chart.load(str(chart_dir))
        rendered = chart.render(values, name=release, namespace=namespace, is_install=True)
    except helm_python.HelmError as exc:
        raise ConfigError(
            f"rendering {chart_dir} failed: {exc}; check the values (--ow-values) against the chart"
        ) from None
    texts = [text for path, text in sorted(rendered.items()) if not path.endswith("NOTES.txt")]
    return texts, engine


def parse_objects(texts: Iterable[str]) -> list[dict[str, Any]]:
    """Every Kubernetes object of multi-document YAML texts (empty documents dropped)."""
    objects: list[dict[str, Any]] = []
    for text in texts:
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict) and doc.get("kind"):
                objects.append(doc)
    return objects


def release_values(settings: Settings) -> dict[str, Any]:
    """The composed values of ``settings`` for its cluster (``--ow-apihost`` fills the ingress host)."""
    values = compose(settings, BASE_FILES[settings.cluster])
    ingress = values.setdefault("whisk", {}).setdefault("ingress", {})
    if settings.apihost:
        url = urllib.parse.urlsplit(
            settings.apihost if "://" in settings.apihost else f"https://{settings.apihost}"
        )
        ingress["apiHostName"] = url.hostname
        if url.port:
            ingress["apiHostPort"] = url.port
        ingress["apiHostProto"] = url.scheme
    return values


def render_release(settings: Settings, workdir: Path, *, values: dict[str, Any] | None = None) -> Rendered:
    """Render what ``settings`` would install: chart copy in ``workdir`` with our manifest; objects."""
    source = check_chart_dir(str(settings.chart))
    values = release_values(settings) if values is None else values
    if not values.get("whisk", {}).get("ingress", {}).get("apiHostName"):
        raise ConfigError(
            "whisk.ingress.apiHostName is empty: on an existing cluster it is the address users "
            "reach OpenWhisk at; pass --ow-apihost https://HOST:PORT or set it in a --ow-values file"
        )
    target = Path(workdir) / "chart" / source.name
    prewarm = settings.prewarm if settings.source("prewarm") not in ("default",) else None
    values, manifest = prepare_chart(source, target, values, prewarm)
    texts, engine = render_chart(target, values, settings.helm_release, settings.helm_namespace)
    return Rendered(values, manifest, parse_objects(texts), engine, chart_metadata(source))


def redacted_values(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the API keys (``whisk.auth.*``) and passwords replaced by ``<redacted>``."""

    def walk(node: Any, path: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, (*path, str(k))) for k, v in node.items()}
        if (
            isinstance(node, str)
            and node
            and (path[:2] == ("whisk", "auth") or "password" in path[-1].lower())
        ):
            return REDACTED
        return node

    return dict(walk(values, ()))


def redacted_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects with every Secret's ``data``/``stringData`` values replaced by ``<redacted>``."""
    result = []
    for obj in objects:
        if obj.get("kind") == "Secret":
            obj = {
                **obj,
                **{
                    key: {k: REDACTED for k in (obj.get(key) or {})}
                    for key in ("data", "stringData")
                    if key in obj
                },
            }
        result.append(obj)
    return result


# -- command line --------------------------------------------------------------------------------
def add_parser(commands: Any) -> None:
    """Add the ``render`` subcommand (with every ``--ow-*`` option of pytest) to ``commands``."""
    render = commands.add_parser(
        "render",
        help="render what --ow-cluster=kind|existing would deploy (values.yaml, manifests.yaml)",
        description="Compose the Helm values a kind/existing run would use and render the OpenWhisk chart "
        "offline with a real Helm engine, for review.",
    )
    for opt in OPTIONS:
        if opt.name == "cluster":
            render.add_argument(
                "--ow-cluster", required=True, choices=("kind", "existing"), dest="ow_cluster"
            )
            continue
        if opt.flag:
            render.add_argument(
                opt.flag_name, action="store_true", default=None, dest=f"ow_{opt.name}", help=opt.help
            )
        else:
            render.add_argument(
                opt.flag_name,
                type=opt.parse,
                default=None,
                dest=f"ow_{opt.name}",
                action="append" if opt.multi else "store",
                metavar=opt.metavar,
                help=opt.help,
            )
    render.add_argument(
        "--output",
        required=True,
        type=Path,
        metavar="DIR",
        help="folder for values.yaml, runtimes.json and manifests.yaml (created)",
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the ``--ow-*`` arguments (given ones marked ``cli``, the rest defaults)."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for opt in OPTIONS:
        given = getattr(args, f"ow_{opt.name}", None)
        if given is None or given == []:
            values[opt.name], sources[opt.name] = opt.default, "default"
        else:
            values[opt.name] = tuple(given) if opt.multi else given
            sources[opt.name] = "cli"
    if values["namespace"] is None:
        values["namespace"] = "_"
    settings = Settings(**values, sources=sources)
    for path in settings.values:
        if not path.is_file():
            raise ConfigError(
                f"Helm values file {str(path)!r} (--ow-values) does not exist; check the path "
                "(relative paths start at the current directory) or drop that --ow-values"
            )
    if "://" in str(settings.chart):
        raise ConfigError(
            f"--ow-chart {settings.chart!r} is a chart repository; render works offline and needs "
            "a chart folder: use --ow-chart openwhisk-deploy-kube/helm/openwhisk (git clone "
            "https://github.com/apache/openwhisk-deploy-kube.git)"
        )
    from pytest_openwhisk.profiles import apply_profile  # lazy: profiles import kube values

    applied: Settings = apply_profile(settings)  # a no-op without --ow-profile
    return applied


def write_output(rendered: Rendered, output: Path) -> list[Path]:
    """Write values.yaml, runtimes.json and manifests.yaml into ``output``; the paths written."""
    output.mkdir(parents=True, exist_ok=True)
    values_path, manifest_path, objects_path = (
        output / "values.yaml",
        output / "runtimes.json",
        output / "manifests.yaml",
    )
    header = (
        f"# rendered by pytest-openwhisk with {rendered.engine}; chart {rendered.chart.get('chart')} "
        f"{rendered.chart.get('chart_version')}; secrets redacted\n"
    )
    values_path.write_text(header + yaml.safe_dump(redacted_values(rendered.values), sort_keys=False))
    manifest_path.write_text(json.dumps(rendered.manifest, indent=2) + "\n")
    objects_path.write_text(header + yaml.safe_dump_all(redacted_objects(rendered.objects), sort_keys=False))
    return [values_path, manifest_path, objects_path]


def run(args: argparse.Namespace) -> int:
    """Run ``render``; return the exit status."""
    try:
        settings = settings_from_args(args)
        with tempfile.TemporaryDirectory(prefix="pytest-openwhisk-render-") as tmp:
            rendered = render_release(settings, Path(tmp))
        written = write_output(rendered, args.output)
    except ConfigError as exc:
        print(f"pytest-openwhisk render: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    kinds = ", ".join(
        k for entries in rendered.manifest["runtimes"].values() for k in (e["kind"] for e in entries)
    )
    print(f"rendered {len(rendered.objects)} objects with {rendered.engine}; kinds: {kinds}")
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pytest_openwhisk.kube.render ...`` (same as ``pytest-openwhisk render ...``)."""
    parser = argparse.ArgumentParser(prog="pytest-openwhisk")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["render", *(argv if argv is not None else sys.argv[1:])]))


if __name__ == "__main__":
    sys.exit(main())
