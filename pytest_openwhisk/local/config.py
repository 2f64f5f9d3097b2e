"""Settings of the embedded OpenWhisk: namespace limits, action limits and the container pool.

Defaults mirror OpenWhisk's own (docs/local.md "Limits and throttles"); :meth:`LocalConfig.benchmark` returns
the benchmark-grade preset the pytest plugin uses (raised throttles, like ``helm/`` values).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field, replace

#: the well-known guest key of OpenWhisk standalone and the Helm chart (opt-in with --auth guest)
GUEST_AUTH = (
    "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
)


def random_auth() -> str:
    """A fresh ``uuid:key`` API key in OpenWhisk's format (64-char key)."""
    return f"{uuid.uuid4()}:{secrets.token_urlsafe(48)[:64]}"


@dataclass(frozen=True)
class Limits:
    """Namespace and action limits (OpenWhisk defaults)."""

    invocations_per_minute: int = 60
    concurrent_invocations: int = 30
    fires_per_minute: int = 60
    sequence_max_length: int = 50
    timeout_ms_min: int = 100
    timeout_ms_max: int = 300_000
    timeout_ms_default: int = 60_000
    memory_mb_min: int = 128
    memory_mb_max: int = 512
    memory_mb_default: int = 256
    logs_mb_min: int = 0
    logs_mb_max: int = 10
    logs_mb_default: int = 10
    concurrency_min: int = 1
    concurrency_max: int = 1
    concurrency_default: int = 1
    payload_max_bytes: int = 1_048_576
    result_max_bytes: int = 1_048_576
    parameter_max_bytes: int = 1_048_576
    code_max_bytes: int = 48 * 1024 * 1024
    blocking_wait_ms: int = 60_000


@dataclass(frozen=True)
class StemCell:
    """Prewarmed containers kept ready for one kind (runtimes.json ``stemCells``)."""

    kind: str
    count: int
    memory_mb: int = 256


@dataclass(frozen=True)
class PoolConfig:
    """The invoker's container pool."""

    user_memory_mb: int = 2048  # ansible/helm default (invoker application.conf says 1024)
    prewarm: tuple[StemCell, ...] = (StemCell("nodejs:20", 2, 256),)  # runtimes.json HEAD
    idle_container_timeout_s: float = 600.0  # destroy idle warm containers after this
    isolation: str = "auto"  # "auto" (bwrap when it works), "bwrap", "none"
    #: whole-container limits: "auto" (cgroups when writable, else the RSS watchdog), "cgroup", "watchdog"
    enforcement: str = "auto"
    pids_max: int = 128  # processes + threads per container (cgroup pids, or RLIMIT_NPROC under bwrap)
    disk_mb: int = 512  # unpacked code size cap; also the size of a bwrap sandbox's private /tmp
    accounting: bool = True  # per-activation CPU time, memory (and energy) in the record's cost annotation


@dataclass(frozen=True)
class LocalConfig:
    """Everything the embedded OpenWhisk needs to start."""

    host: str = "127.0.0.1"
    port: int = 3233  # 0 = pick a free port
    namespace: str = "guest"
    subject: str = "guest"
    auth: str = field(default_factory=random_auth)
    limits: Limits = field(default_factory=Limits)
    pool: PoolConfig = field(default_factory=PoolConfig)
    #: runtime kinds offered (``GET /`` runtimes, accepted on PUT); None = every kind this host can run
    kinds: tuple[str, ...] | None = None
    #: PEM certificate and key: serve HTTPS with this pair (both or neither; apihost becomes https://)
    tls_cert: str | None = None
    tls_key: str | None = None
    #: SQLite file for activation records and logs (e.g. in the results folder); None = a temporary file
    activation_store: str | None = None

    @classmethod
    def benchmark(cls, **overrides: object) -> LocalConfig:
        """The preset for benchmarks: OpenWhisk defaults with throttles raised (as our Helm values do)."""
        limits = Limits(
            invocations_per_minute=1_000_000,
            concurrent_invocations=1_000,
            sequence_max_length=200,
            concurrency_max=500,
        )
        base = cls(port=0, limits=limits)
        return replace(base, **overrides)  # type: ignore[arg-type]
