"""``python -m pytest_openwhisk.local serve``: the embedded OpenWhisk as a standalone server.

Prints the apihost and the auth key (the one place the key is shown: the user asked the server for it),
optionally writes a ``.wskprops`` (mode 0600) for the ``wsk`` CLI, and serves until SIGINT/SIGTERM, then
kills every runtime process.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import gc
import ipaddress
import json
import logging
import os
import resource
import signal
import sys
from collections.abc import Callable, MutableMapping
from dataclasses import replace
from pathlib import Path

from pytest_openwhisk.local import manifest, spawner
from pytest_openwhisk.local.config import GUEST_AUTH, Limits, LocalConfig, PoolConfig, StemCell, random_auth
from pytest_openwhisk.local.process import CONFIG_ENV, config_from_json
from pytest_openwhisk.local.server import Server, new_loop
from pytest_openwhisk.parsers import ISOLATIONS, parse_int


def _positive_int(what: str, minimum: int = 1) -> Callable[[str], int]:
    """Whole numbers >= ``minimum`` (the shared :func:`pytest_openwhisk.parsers.parse_int`)."""
    return parse_int(what, minimum)


def parse_port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port '{text}'; use 0..65535 (0 picks a free port)")
    return value


def parse_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"invalid idle timeout '{text}'; use seconds > 0, e.g. 600")
    return value


def parse_auth(text: str) -> str:
    if text == "guest":
        return GUEST_AUTH
    user, sep, key = text.partition(":")
    if not sep or not user or not key or ":" in key:
        raise argparse.ArgumentTypeError(
            "invalid --auth value (not shown: it is a secret); use UUID:KEY, e.g. from "
            "`wsk property get --auth`, or 'guest' for the well-known guest key"
        )
    return text


def parse_prewarm(text: str) -> StemCell | None:
    """``KIND:COUNT[:MB]`` (e.g. ``nodejs:20:2``, ``python:3.11:1:256``) or ``none``."""
    if text == "none":
        return None
    parts = text.split(":")
    fix = "use KIND:COUNT[:MB], e.g. nodejs:20:2 or python:3.11:1:256, or 'none'"
    if len(parts) not in (3, 4):
        raise argparse.ArgumentTypeError(f"invalid --prewarm '{text}'; {fix}")
    try:
        kind = manifest.resolve_kind(f"{parts[0]}:{parts[1]}")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid --prewarm '{text}': {exc}") from None
    try:
        count = int(parts[2])
        memory = int(parts[3]) if len(parts) == 4 else 256
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid --prewarm '{text}'; {fix}") from None
    if count < 0 or memory < 1:
        raise argparse.ArgumentTypeError(f"invalid --prewarm '{text}'; COUNT >= 0 and MB >= 1 ({fix})")
    return StemCell(kind, count, memory)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_openwhisk.local",
        description="The embedded OpenWhisk (no Docker, no Kubernetes).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the embedded OpenWhisk until interrupted")
    serve.add_argument(
        "--host",
        default=None,
        help="address to bind (default 127.0.0.1; loopback only unless --allow-remote)",
    )
    serve.add_argument("--port", type=parse_port, default=None, help="port (default 3233; 0 = a free port)")
    serve.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    serve.add_argument(
        "--auth",
        type=parse_auth,
        default=None,
        help="API key UUID:KEY, or 'guest' for the well-known guest key (default: a random key)",
    )
    serve.add_argument(
        "--wskprops", type=Path, default=None, help="write APIHOST/AUTH/NAMESPACE here (mode 0600)"
    )
    serve.add_argument(
        "--ready-file",
        type=Path,
        default=None,
        help="write JSON {apihost, port, pid, namespace} here once serving",
    )
    serve.add_argument("--invocations-per-minute", type=_positive_int("invocations per minute"), default=None)
    serve.add_argument("--concurrent-invocations", type=_positive_int("concurrent invocations"), default=None)
    serve.add_argument("--sequence-max-length", type=_positive_int("sequence max length"), default=None)
    serve.add_argument(
        "--prewarm",
        type=parse_prewarm,
        action="append",
        default=None,
        metavar="KIND:COUNT[:MB]",
        help="stem cells per kind (repeatable), or 'none'",
    )
    serve.add_argument(
        "--idle-timeout",
        type=parse_seconds,
        default=None,
        help="destroy idle warm containers after S seconds (default 600)",
    )
    serve.add_argument(
        "--user-memory",
        type=_positive_int("user memory (MB)", 128),
        default=None,
        help="pool memory budget in MB (default 2048)",
    )
    serve.add_argument(
        "--isolation", choices=ISOLATIONS, default=None, help="auto (bwrap when it works), bwrap or none"
    )
    serve.add_argument(
        "--benchmark",
        action="store_true",
        help="benchmark preset: throttles raised (LocalConfig.benchmark())",
    )
    serve.add_argument(
        "--activation-store",
        type=Path,
        default=None,
        help="SQLite file for activation records and logs (default: a temporary file removed at exit)",
    )
    serve.add_argument(
        "--config-fd",
        type=_positive_int("config fd", 0),
        default=None,
        help="read the whole LocalConfig as JSON from this inherited fd (LocalOpenWhiskProcess passes it so)",
    )
    return parser


def read_config_fd(fd: int) -> str:
    """The JSON config written by LocalOpenWhiskProcess into the pipe ``fd`` (read to EOF, then closed)."""
    with os.fdopen(fd, "rb") as pipe:
        return pipe.read().decode()


def config_from_args(
    args: argparse.Namespace, env: MutableMapping[str, str], handed_text: str | None = None
) -> LocalConfig:
    """Flags > the config handed over by LocalOpenWhiskProcess (pipe, or env) > preset > defaults."""
    handed = env.pop(CONFIG_ENV, None)
    if handed_text:
        handed = handed_text
    if handed:
        config = config_from_json(handed)
    elif args.benchmark:
        config = LocalConfig.benchmark(port=3233)
    else:
        config = LocalConfig()
    limits: Limits = config.limits
    if args.invocations_per_minute is not None:
        limits = replace(limits, invocations_per_minute=args.invocations_per_minute)
    if args.concurrent_invocations is not None:
        limits = replace(limits, concurrent_invocations=args.concurrent_invocations)
    if args.sequence_max_length is not None:
        limits = replace(limits, sequence_max_length=args.sequence_max_length)
    pool: PoolConfig = config.pool
    if args.prewarm is not None:
        pool = replace(pool, prewarm=tuple(cell for cell in args.prewarm if cell is not None))
    if args.idle_timeout is not None:
        pool = replace(pool, idle_container_timeout_s=args.idle_timeout)
    if args.user_memory is not None:
        pool = replace(pool, user_memory_mb=args.user_memory)
    if args.isolation is not None:
        pool = replace(pool, isolation=args.isolation)
    config = replace(config, limits=limits, pool=pool)
    if args.host is not None:
        config = replace(config, host=args.host)
    if args.port is not None:
        config = replace(config, port=args.port)
    if args.activation_store is not None:
        config = replace(config, activation_store=str(args.activation_store))
    if args.auth is not None:
        config = replace(config, auth=args.auth)
    elif not handed and not config.auth:
        config = replace(config, auth=random_auth())
    return config


def reap_info(server: Server) -> dict[str, object]:
    """What a parent needs to clean up after this server if it dies without stopping its runtimes:
    the container token prefix and the server's cgroup directories."""
    control = getattr(server.invoker, "control", None)
    if control is None:
        return {}
    return {"token_prefix": control.token_prefix, "cgroups": [str(p) for p in control.parents.values()]}


def _write_ready(path: Path, info: dict[str, object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(info), encoding="utf-8")
    os.replace(tmp, path)


async def serve(config: LocalConfig, args: argparse.Namespace, announce: bool, fd_table: int = 0) -> None:
    priority = spawner.raise_controller()  # before the invoker starts its first runtime
    priority += "; " + spawner.shorten_slice()  # this thread runs the event loop
    server = Server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
        gc.freeze()  # start-up objects (modules, app, pool) leave the collector's generations: cheaper pauses
        if args.wskprops is not None:
            from pytest_openwhisk.wskprops import write_wskprops

            write_wskprops(
                args.wskprops, apihost=server.apihost, auth=config.auth, namespace=config.namespace
            )
        if announce:
            print(f"OpenWhisk (embedded) serving on {server.apihost}", flush=True)
            print(f"APIHOST={server.apihost}", flush=True)
            print(f"AUTH={config.auth}", flush=True)
            print(f"NAMESPACE={config.namespace}", flush=True)
            if args.wskprops is not None:
                print(f"wrote {args.wskprops} (mode 0600)", flush=True)
            print("Ctrl-C stops it and kills every runtime process.", flush=True)
        if args.ready_file is not None:
            _write_ready(
                args.ready_file,
                {
                    "apihost": server.apihost,
                    "port": server.port,
                    "pid": os.getpid(),
                    "namespace": config.namespace,
                    "reap": reap_info(server),
                    "priority": priority,
                    "fd_table": fd_table,
                },
            )
        await stop.wait()
    finally:
        await server.stop()


#: entries of the server's file-descriptor table, made at start (at most the RLIMIT_NOFILE soft limit)
FD_TABLE = 16384


def reserve_fd_table(size: int = FD_TABLE) -> int:
    """Grow this process's file-descriptor table to ``size`` entries (capped by the RLIMIT_NOFILE soft
    limit); the size reserved, 0 when that was refused. Call it while the process has one thread.

    Linux doubles the table when an fd above its size is opened, and in a process with several threads each
    growth waits for an RCU grace period (13 ms measured) in the thread that opened the fd: the event loop,
    accepting a connection or making a pipe during a cold-start storm. With one thread there is no wait.
    The table never shrinks; 16384 entries take ~130 KB."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY:
        size = min(size, soft)
    try:
        fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        os.close(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, size - 1))  # the lowest free fd >= size - 1
    except OSError:
        return 0
    finally:
        os.close(fd)
    return size


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    fd_table = reserve_fd_table()  # first: before any thread starts
    handed_text = read_config_fd(args.config_fd) if args.config_fd is not None else None
    handed = CONFIG_ENV in os.environ or bool(handed_text)
    config = config_from_args(args, os.environ, handed_text)  # pops a config handed over in the env
    if not is_loopback(config.host) and not args.allow_remote:
        parser.error(
            f"--host {config.host} is not a loopback address; the server would accept invocations "
            "from the network. Use 127.0.0.1, or add --allow-remote if you really mean it"
        )
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    loop = new_loop()
    try:
        loop.run_until_complete(serve(config, args, announce=not handed, fd_table=fd_table))
    except OSError as exc:
        print(
            f"error: cannot serve on {config.host}:{config.port}: {exc}; pick another --port (0 = any free "
            "port)",
            file=sys.stderr,
        )
        return 1
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
