"""Controller info (``GET /``, ``/ping``, ``/api/v1``), namespaces, limits, ``/metrics`` and the admin API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from pytest_openwhisk import __version__
from pytest_openwhisk.local import manifest
from pytest_openwhisk.local.config import Limits
from pytest_openwhisk.local.controller import Controller
from pytest_openwhisk.local.httpapi import (
    json_response,
    namespace_of,
    parse_json_body,
    raw_json_response,
    read_body,
)
from pytest_openwhisk.local.metrics import CONTENT_TYPE
from pytest_openwhisk.local.types import malformed_content

MB = 1024 * 1024
#: OpenWhisk's ``apiv1swagger.json`` (served at ``/api/v1/api-docs``; no UI at ``/api/v1/docs``)
SWAGGER = Path(__file__).with_name("apiv1swagger.json")


def _byte_size(n: int) -> str:
    """``ByteSize.toString``: ``"1 MB"`` when whole megabytes, else ``"N B"``."""
    return f"{n // MB} MB" if n % MB == 0 else f"{n} B"


def root_info(limits: Limits, kinds: tuple[str, ...] | None = None) -> dict[str, Any]:
    """``GET /`` (``Controller.info``)."""
    return {
        "description": "OpenWhisk",
        "support": {
            "github": "https://github.com/apache/openwhisk/issues",
            "slack": "http://slack.openwhisk.org",
        },
        "api_paths": ["/api/v1"],
        "limits": {
            "actions_per_minute": limits.invocations_per_minute,
            "triggers_per_minute": limits.fires_per_minute,
            "concurrent_actions": limits.concurrent_invocations,
            "sequence_length": limits.sequence_max_length,
            "default_min_action_duration": limits.timeout_ms_min,
            "default_max_action_duration": limits.timeout_ms_max,
            "default_min_action_memory": limits.memory_mb_min * MB,
            "default_max_action_memory": limits.memory_mb_max * MB,
            "default_min_action_logs": limits.logs_mb_min * MB,
            "default_max_action_logs": limits.logs_mb_max * MB,
            "min_action_duration": limits.timeout_ms_min,
            "max_action_duration": limits.timeout_ms_max,
            "min_action_memory": limits.memory_mb_min * MB,
            "max_action_memory": limits.memory_mb_max * MB,
            "min_action_logs": limits.logs_mb_min * MB,
            "max_action_logs": limits.logs_mb_max * MB,
        },
        "runtimes": manifest.manifest_json(kinds),
        "embedded": {"server": "pytest-openwhisk", "version": __version__},
    }


def namespace_limits(limits: Limits) -> dict[str, Any]:
    """``GET …/limits`` (``UserLimits`` with the system defaults filled in)."""
    return {
        "invocationsPerMinute": limits.invocations_per_minute,
        "concurrentInvocations": limits.concurrent_invocations,
        "firesPerMinute": limits.fires_per_minute,
        "minActionMemory": limits.memory_mb_min,
        "maxActionMemory": limits.memory_mb_max,
        "minActionLogs": limits.logs_mb_min,
        "maxActionLogs": limits.logs_mb_max,
        "minActionTimeout": limits.timeout_ms_min,
        "maxActionTimeout": limits.timeout_ms_max,
        "minActionConcurrency": limits.concurrency_min,
        "maxActionConcurrency": limits.concurrency_max,
        "maxParameterSize": _byte_size(limits.parameter_max_bytes),
        "maxActionInstances": limits.concurrent_invocations,
    }


def evict_path(value: Any, own: str) -> str | None:
    """Normalise the admin evict ``path``: ``name``, ``ns/name``, ``/_/pkg/name`` -> ``guest/[pkg/]name``."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip("/"):
        raise malformed_content(
            "'path' must be a string like \"guest/name\" (or omit it to evict everything)"
        )
    parts = value.strip("/").split("/")
    if len(parts) == 1:
        parts = [own, *parts]
    if parts[0] == "_":
        parts[0] = own
    return "/".join(parts)


class MiscApi:
    """Everything that is not an entity collection."""

    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.own = ctl.config.namespace
        self._root = root_info(ctl.limits, ctl.config.kinds)
        self._limits = namespace_limits(ctl.limits)
        self._api = {
            "description": "OpenWhisk API",
            "api_version": "1.0.0",
            "api_version_path": "v1",
            "build": "pytest-openwhisk",
            "buildno": __version__,
            "swagger_paths": {"ui": "/docs", "api-docs": "/api-docs"},
        }
        self._swagger: bytes | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.root),
            web.get("/ping", self.ping),
            web.get("/api/v1", self.api),
            web.get("/api/v1/api-docs", self.api_docs),
            web.get("/api/v1/", self.api),
            web.get("/api/v1/namespaces", self.namespaces),
            web.get("/api/v1/namespaces/", self.namespaces),
            web.get("/api/v1/namespaces/{ns}/limits", self.limits),
            web.get("/api/v1/namespaces/{ns}/limits/", self.limits),
            web.get("/metrics", self.metrics),
            web.post("/admin/v1/evict", self.evict),
            web.get("/admin/v1/pool", self.pool),
        ]

    async def root(self, request: web.Request) -> web.Response:
        return json_response(self._root)

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="pong")

    async def api_docs(self, request: web.Request) -> web.Response:
        """OpenWhisk's own API description (Swagger 2.0, Apache-2.0, its attribution in ``x-source``)."""
        if self._swagger is None:
            self._swagger = SWAGGER.read_bytes()
        return raw_json_response(self._swagger)

    async def api(self, request: web.Request) -> web.Response:
        return json_response(self._api)

    async def namespaces(self, request: web.Request) -> web.Response:
        return json_response([self.own])

    async def limits(self, request: web.Request) -> web.Response:
        namespace_of(request.match_info["ns"], self.own)
        return json_response(self._limits)

    async def metrics(self, request: web.Request) -> web.Response:
        response = web.Response(body=self.ctl.metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    async def evict(self, request: web.Request) -> web.Response:
        body = parse_json_body(await read_body(request, 65536), request.content_type)
        if body is not None and not isinstance(body, dict):
            raise malformed_content("JSON object expected")
        path = evict_path((body or {}).get("path"), self.own)
        evicted = await self.ctl.invoker.evict(None, path)
        return json_response({"evicted": evicted})

    async def pool(self, request: web.Request) -> web.Response:
        stats = dict(self.ctl.invoker.stats())
        stats["limits"] = namespace_limits(self.ctl.limits)
        pool = self.ctl.config.pool
        stats["pool_config"] = {
            "user_memory_mb": pool.user_memory_mb,
            "idle_container_timeout_s": pool.idle_container_timeout_s,
            "isolation": pool.isolation,
            "prewarm": [{"kind": s.kind, "count": s.count, "memory_mb": s.memory_mb} for s in pool.prewarm],
        }
        return json_response(stats)
