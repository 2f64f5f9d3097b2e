"""Our copy of the OpenWhisk chart: the runtimes manifest we deploy and the monitoring NetworkPolicy.

The chart reads its runtimes manifest with ``.Files.Get .Values.whisk.runtimes``, so a copy of the chart
gets :func:`pytest_openwhisk.kube.runtimes.cluster_manifest` as ``runtimes-pytest-openwhisk.json`` and the
values select it. With ``isolateUserActions`` the chart renders a default-deny ingress policy, which
keeps Prometheus (namespace ``monitoring``) from scraping the invoker and user-events on clusters that
enforce NetworkPolicy; the copy gets one more template allowing exactly that, so Helm installs,
upgrades and removes it with the release.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.kube.runtimes import cluster_manifest
from pytest_openwhisk.local.config import StemCell

RUNTIMES_FILE = "runtimes-pytest-openwhisk.json"
MONITORING_NAMESPACE = "monitoring"
POLICY_TEMPLATE = "templates/pytest-openwhisk-monitoring-np.yaml"
#: components whose /metrics Prometheus scrapes (pods annotated prometheus.io/scrape by the chart)
SCRAPED = ("invoker", "user-events", "controller", "scheduler")


def monitoring_policy_template(monitoring_namespace: str = MONITORING_NAMESPACE) -> str:
    """A chart template: with isolateUserActions, ingress from ``monitoring_namespace`` to scraped pods."""
    names = ", ".join(f'"{{{{ .Release.Name }}}}-{component}"' for component in SCRAPED)
    return (
        "{{- if .Values.invoker.containerFactory.kubernetes.isolateUserActions }}\n"
        "# added by pytest-openwhisk: Prometheus in namespace "
        f"{monitoring_namespace} may scrape OpenWhisk's metrics\n"
        "apiVersion: networking.k8s.io/v1\n"
        "kind: NetworkPolicy\n"
        "metadata:\n"
        "  name: {{ .Release.Name }}-allow-monitoring-np\n"
        "  labels:\n"
        '{{ include "openwhisk.label_boilerplate" . | indent 4 }}\n'
        "spec:\n"
        "  podSelector:\n"
        "    matchExpressions:\n"
        f"      - {{key: name, operator: In, values: [{names}]}}\n"
        "  policyTypes:\n"
        "  - Ingress\n"
        "  ingress:\n"
        "  - from:\n"
        "    - namespaceSelector:\n"
        "        matchLabels:\n"
        f"          kubernetes.io/metadata.name: {monitoring_namespace}\n"
        "{{- end }}\n"
    )


def check_chart_dir(chart: str | Path, option: str = "--ow-chart") -> Path:
    """``chart`` as a chart folder, or :class:`ConfigError` naming the value and the fix."""
    folder = Path(chart).expanduser()
    if not (folder / "Chart.yaml").is_file():
        raise ConfigError(
            f"chart {str(chart)!r} ({option}) is not a chart folder with Chart.yaml; use the path of "
            "openwhisk-deploy-kube/helm/openwhisk (git clone "
            "https://github.com/apache/openwhisk-deploy-kube.git)"
        )
    return folder


def chart_metadata(chart_dir: Path) -> dict[str, Any]:
    """name, version and appVersion of a chart folder."""
    data = yaml.safe_load((Path(chart_dir) / "Chart.yaml").read_text()) or {}
    return {
        "chart": data.get("name"),
        "chart_version": str(data.get("version")),
        "app_version": data.get("appVersion"),
    }


def prepare_chart(
    source: Path, target: Path, values: dict[str, Any], prewarm: tuple[StemCell, ...] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Copy the chart ``source`` to ``target`` with our runtimes manifest and policy; (values, manifest).

    The returned values select the manifest (``whisk.runtimes``). ``target`` is replaced.
    """
    check_chart_dir(source)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    manifest = cluster_manifest(prewarm)
    (target / RUNTIMES_FILE).write_text(json.dumps(manifest, indent=2))
    (target / POLICY_TEMPLATE).write_text(monitoring_policy_template())
    whisk = dict(values.get("whisk", {}))
    whisk["runtimes"] = RUNTIMES_FILE
    return {**values, "whisk": whisk}, manifest


def monitoring_values(values: dict[str, Any], namespace: str) -> dict[str, Any]:
    """``helm/monitoring.yaml`` values whose OpenWhisk scrape job looks in the release ``namespace``."""
    result = json.loads(json.dumps(values))
    configs = result.get("prometheus", {}).get("prometheusSpec", {}).get("additionalScrapeConfigs") or []
    for config in configs:
        for sd in config.get("kubernetes_sd_configs") or []:
            if "namespaces" in sd:
                sd["namespaces"] = {"names": [namespace]}
    return dict(result)
