"""A local Prometheus server scraping one target, and a small PromQL client over the HTTP API.

:class:`LocalPrometheus` runs the ``prometheus`` binary (Debian package ``prometheus``) on a loopback
port with a generated configuration and a throw-away TSDB under ``workdir``; :class:`PromClient`
talks to any Prometheus (the local one, or kube-prometheus-stack through a NodePort/port-forward).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from pytest_openwhisk.errors import BackendError, ToolMissing
from pytest_openwhisk.wait import wait_until

PROMETHEUS_INSTALL = (
    "install it with `sudo apt-get install prometheus` (Debian/Ubuntu) or `bash .ci/setup`, "
    "or put a release from https://prometheus.io/download/ on PATH"
)
JOB = "openwhisk"


def find_prometheus(path: str | None = None) -> str:
    """The ``prometheus`` executable (``path`` or PATH); :class:`ToolMissing` with the install step."""
    found = shutil.which(path or "prometheus")
    if found is None:
        raise ToolMissing(
            f"'{path or 'prometheus'}' was not found on PATH (needed by --ow-monitoring); "
            f"{PROMETHEUS_INSTALL}"
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free right now (for a child process that cannot report its port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class PromClient:
    """PromQL over the HTTP API of one Prometheus (``base_url`` like ``http://127.0.0.1:9090``)."""

    def __init__(
        self, base_url: str, *, timeout: float = 10.0, session: requests.Session | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = session or requests.Session()

    def ready(self) -> bool:
        """True when ``/-/ready`` answers 200."""
        return self._session.get(f"{self.base_url}/-/ready", timeout=self.timeout).status_code == 200

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query: the ``result`` list (vector elements ``{"metric": {...}, "value": [t, "v"]}``).

        Raises :class:`BackendError` naming the expression and Prometheus's error.
        """
        params: dict[str, str] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return self._get("query", params, expr)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """Range query: the matrix (``{"metric": {...}, "values": [[t, "v"], ...]}``)."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return self._get("query_range", params, expr)

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The single number an aggregated expression yields, or None when it yields nothing."""
        result = self.query(expr, at)
        if not result:
            return None
        number = float(result[0]["value"][1])
        return None if number != number else number  # NaN -> None

    def by_label(self, expr: str, label: str, at: float | None = None) -> dict[str, float]:
        """``{label value: number}`` for a vector grouped by ``label`` (NaN elements dropped)."""
        values: dict[str, float] = {}
        for item in self.query(expr, at):
            number = float(item["value"][1])
            if number == number:
                values[item["metric"].get(label, "")] = number
        return values

    def _get(self, endpoint: str, params: dict[str, str], expr: str) -> list[dict[str, Any]]:
        url = f"{self.base_url}/api/v1/{endpoint}"
        try:
            response = self._session.get(url, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise BackendError(f"Prometheus at {self.base_url} did not answer query {expr!r}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or body.get("status") != "success":
            error = body.get("error") or response.text[:200]
            raise BackendError(f"Prometheus rejected query {expr!r} (HTTP {response.status_code}): {error}")
        data = body["data"]
        if data.get("resultType") == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result


def scrape_config(target_url: str, scrape_interval: float, job: str = JOB) -> dict[str, Any]:
    """The Prometheus configuration scraping ``target_url`` (e.g. ``http://127.0.0.1:3233/metrics``)."""
    parts = urlsplit(target_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BackendError(f"invalid scrape target {target_url!r}; use http(s)://host:port/path")
    interval = f"{max(int(scrape_interval * 1000), 100)}ms"
    return {
        "global": {
            "scrape_interval": interval,
            "evaluation_interval": interval,
            "scrape_timeout": f"{max(int(scrape_interval * 800), 80)}ms",
        },
        "scrape_configs": [
            {
                "job_name": job,
                "scheme": parts.scheme,
                "metrics_path": parts.path or "/metrics",
                "static_configs": [{"targets": [parts.netloc]}],
            }
        ],
    }


class LocalPrometheus:
    """A ``prometheus`` child process on 127.0.0.1 scraping ``target_url`` every ``scrape_interval`` s.

    Use as a context manager; ``client`` is a :class:`PromClient` for it, ``url`` its base URL.
    A half-started server is stopped before the error propagates. Prometheus applies new scrape
    targets about 5 s after start, so :meth:`wait_first_scrape` takes that long once per server.
    """

    def __init__(
        self,
        target_url: str,
        workdir: Path,
        *,
        scrape_interval: float = 1.0,
        binary: str | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.target_url = target_url
        self.workdir = Path(workdir)
        self.scrape_interval = scrape_interval
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.port = 0
        self.url = ""
        self.client: PromClient | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = self.workdir / "prometheus.log"

    def __enter__(self) -> LocalPrometheus:
        binary = find_prometheus(self.binary)
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_file = self.workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(scrape_config(self.target_url, self.scrape_interval)))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [
            binary,
            f"--config.file={config_file}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ]
        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.client = PromClient(self.url, timeout=5.0)
        try:
            wait_until(
                self._ready_or_exited,
                what=f"Prometheus at {self.url} (log {self._log})",
                timeout=self.startup_timeout,
            )
            code = self._proc.poll()
            if code is not None:
                raise BackendError(f"prometheus exited with code {code} at startup: {self.log_tail()}")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _ready_or_exited(self) -> bool:
        assert self._proc is not None
        assert self.client is not None
        return self._proc.poll() is not None or self.client.ready()

    def wait_first_scrape(self, timeout: float = 30.0) -> None:
        """Wait until the target has been scraped successfully once (``up == 1``)."""
        client = self._require_client()
        wait_until(
            lambda: client.value(f'max(up{{job="{JOB}"}})') == 1.0,
            what=f"first successful scrape of {self.target_url}",
            timeout=timeout,
        )

    def wait_scraped_after(self, moment: float, timeout: float = 30.0) -> float:
        """Wait for a scrape at or after epoch ``moment``; return that scrape's timestamp."""
        return scraped_after(self._require_client(), moment, f'up{{job="{JOB}"}}', timeout)

    def open_window(self, timeout: float = 30.0) -> float:
        """Wait for a scrape that starts after everything finished so far; return the window start.

        Call it between a warm-up and the measured invocations: the scrape taken here is the baseline
        of :func:`~pytest_openwhisk.monitoring.collect.window_metrics` for a window starting at the
        returned time (epoch s), so the warm-up is not counted in it. Costs up to one scrape interval.
        """
        self.wait_scraped_after(time.time(), timeout)
        return time.time()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log (for error messages)."""
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _require_client(self) -> PromClient:
        if self.client is None:
            raise BackendError("LocalPrometheus is not started; use it as a context manager")
        return self.client

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def scraped_after(client: PromClient, moment: float, up_selector: str, timeout: float = 30.0) -> float:
    """Wait until all series of ``up_selector`` have a sample at/after ``moment``; the oldest timestamp."""

    def probe() -> float | None:
        oldest = client.value(f"min(timestamp({up_selector}))")
        return oldest if oldest is not None and oldest >= moment else None

    found = wait_until(
        probe, what=f"a Prometheus scrape after the window end ({up_selector})", timeout=timeout, interval=0.1
    )
    return float(found)
