"""Energy of action pods on clusters from Kepler (``--ow-energy=kepler``), never invented.

Kepler (sustainable-computing-io) is installed with Helm next to kube-prometheus-stack (namespace
``monitoring``, its ServiceMonitor picked up by Prometheus). It exports per-container energy counters:
``kepler_container_joules_total`` (Kepler <= 0.7, labels ``container_namespace``/``pod_name``) or
``kepler_container_cpu_joules_total`` (newer releases). The window's joules are the counter's increase
over the action pods of the release's namespace; per invocation they are divided by the activations
counted in the same window. Kepler refreshes its counters every few seconds, so the result carries the
real update interval and a window shorter than it is flagged and not reported as a figure.
"""

from __future__ import annotations

from typing import Any

from pytest_openwhisk.errors import BackendError
from pytest_openwhisk.monitoring.collect import series_resolution
from pytest_openwhisk.monitoring.prometheus import PromClient

KEPLER_REPO = "https://sustainable-computing-io.github.io/kepler-helm-chart"
KEPLER_CHART = "kepler"
KEPLER_RELEASE = "kepler"
#: Helm values: a ServiceMonitor kube-prometheus-stack selects (helm/monitoring.yaml selects every one)
KEPLER_VALUES: dict[str, Any] = {"serviceMonitor": {"enabled": True, "interval": "3s"}}
METRICS = ("kepler_container_joules_total", "kepler_container_cpu_joules_total")


def unavailable(why: str, source: str = "none") -> dict[str, Any]:
    """The fingerprint's ``energy`` entry when there are no energy figures, with the reason."""
    return {"source": source, "available": False, "why": why}


def _at(metric: str, namespace: str, pod_regex: str, at: float) -> str:
    """The summed counter at ``at`` (both namespace label spellings of Kepler releases)."""
    return (
        f'sum({metric}{{container_namespace="{namespace}",pod_name=~"{pod_regex}"}} @ {at:.3f} or '
        f'{metric}{{pod_namespace="{namespace}",pod_name=~"{pod_regex}"}} @ {at:.3f})'
    )


def energy_window(
    prom: PromClient,
    namespace: str,
    start: float,
    end: float,
    activations: float | None,
    pod_regex: str = "wsk.*",
) -> dict[str, Any]:
    """Joules of the action pods in ``[start, end]`` and per invocation (short windows flagged)."""
    for metric in METRICS:
        try:
            at_end = prom.value(_at(metric, namespace, pod_regex, end))
        except BackendError:
            at_end = None
        if at_end is None:
            continue
        at_start = prom.value(_at(metric, namespace, pod_regex, start)) or 0.0
        joules = max(at_end - at_start, 0.0)
        resolution = series_resolution(prom, f'{metric}{{pod_name=~"{pod_regex}"}}', end)
        found: dict[str, Any] = {
            "source": "kepler",
            "metric": metric,
            "joules": round(joules, 6),
            "joules_per_invocation": None,
            "resolution_s": resolution,
            "window_s": round(end - start, 3),
        }
        if resolution is not None and end - start < resolution:
            found["joules"] = None
            found["flag"] = (
                f"window of {end - start:.1f}s is shorter than Kepler's update interval "
                f"({resolution:g}s): no energy figure; measure longer windows"
            )
            return found
        if activations:
            found["joules_per_invocation"] = round(joules / activations, 6)
        return found
    return {
        "source": "kepler",
        "joules": None,
        "joules_per_invocation": None,
        "why": f"no {' or '.join(METRICS)} series for pods {pod_regex} in namespace {namespace} "
        "(is Kepler running and scraped? on VMs without RAPL it estimates with a model or exports none)",
    }
