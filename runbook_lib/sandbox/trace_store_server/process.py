"""The store process: both HTTP servers over one store (:func:`serve`) and the command line (:func:`main`)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping
from http.server import ThreadingHTTPServer
from pathlib import Path

from ...errors import SandboxError
from .engine import TraceStore
from .handler import make_query_handler

__all__ = ["main", "serve"]

log = logging.getLogger("runbook_lib.sandbox.trace_store")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def serve(
    *,
    data_dir: str | os.PathLike[str],
    jwt_secret: str,
    otlp_port: int = 4318,
    http_port: int = 8123,
    host: str = "127.0.0.1",
    user: str = "default",
    password: str = "",
    create_schema: bool = True,
    prices: Mapping[str, tuple[float, float]] | None = None,
    resource_defaults: Mapping[str, str] | None = None,
) -> tuple[TraceStore, ThreadingHTTPServer, ThreadingHTTPServer]:
    """Open the store and start both HTTP servers in daemon threads; the caller shuts them down."""
    from .. import collector

    store = TraceStore(data_dir, create_schema=create_schema)
    try:
        otlp = _Server((host, otlp_port), collector.make_handler(
            jwt_secret=jwt_secret, write_rows=store.insert_rows, resource_defaults=resource_defaults,
            prices=prices))
        http = _Server((host, http_port), make_query_handler(store, user=user, password=password))
    except OSError as exc:
        store.close()
        raise SandboxError(
            f"cannot listen on {host} port {otlp_port} or {http_port} ({exc.strerror})",
            hint="another process holds the port; pick free ports (or 0 for any)",
        ) from None
    for server, name in ((otlp, "otlp"), (http, "query")):
        threading.Thread(target=server.serve_forever, name=f"trace-store-{name}", daemon=True).start()
    return store, otlp, http


def _read_secret_file(path: str | None, env: str, what: str, *, required: bool) -> str:
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SandboxError(f"cannot read the {what} file {path} ({exc.strerror})",
                               hint="check the path given on the command line") from None
        if value or not required:
            return value
        raise SandboxError(f"the {what} file {path} is empty", hint=f"write the {what} into it")
    value = os.environ.get(env, "")
    if required and not value:
        raise SandboxError(f"no {what} given", hint=f"pass --{what.replace(' ', '-')}-file or set {env}")
    return value


def _load_prices(path: str | None) -> dict[str, tuple[float, float]] | None:
    if not path:
        return None
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        return {str(model): (float(p["prompt"]), float(p["completion"])) for model, p in raw.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SandboxError(f"cannot read prices from {path} ({exc})",
                           hint='write JSON like {"gpt-4o-mini": {"prompt": 1.5e-7, "completion": 6e-7}}'
                           ) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runbook_lib.sandbox.trace_store_server",
                                     description="Sandbox OTLP collector + ClickHouse-compatible query endpoint.")
    parser.add_argument("--otlp-port", type=int, default=4318, help="collector port (0: any free port)")
    parser.add_argument("--http-port", type=int, default=8123, help="ClickHouse HTTP port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data", required=True, help="folder for the chDB data")
    parser.add_argument("--jwt-secret-file", help="file holding the JWT secret (else env JWT_SECRET)")
    parser.add_argument("--user", default="default", help="ClickHouse user name")
    parser.add_argument("--password-file", help="file holding the ClickHouse password (else env "
                        "CLICKHOUSE_PASSWORD; empty: no password)")
    parser.add_argument("--prices-file", help="JSON {model: {prompt, completion}} USD per token")
    parser.add_argument("--no-create-schema", action="store_true", help="do not create otel_2.otel_traces")
    parser.add_argument("--ready-file", help="write {pid, otlp_port, http_port, ...} here when ready")
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the store until SIGTERM/SIGINT; print ``READY {json}`` (and write ``--ready-file``) once both
    ports answer. Exit code 2 when it cannot start."""
    args = _parser().parse_args(argv)
    os.environ["TZ"] = "UTC"
    time.tzset()
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        secret = _read_secret_file(args.jwt_secret_file, "JWT_SECRET", "jwt secret", required=True)
        password = _read_secret_file(args.password_file, "CLICKHOUSE_PASSWORD", "password", required=False)
        store, otlp, http = serve(
            data_dir=args.data, jwt_secret=secret, otlp_port=args.otlp_port, http_port=args.http_port,
            host=args.host, user=args.user, password=password, create_schema=not args.no_create_schema,
            prices=_load_prices(args.prices_file),
            resource_defaults={"host.name": socket.gethostname(), "os.type": "linux"},
        )
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ready = {"pid": os.getpid(), "otlp_port": otlp.server_address[1], "http_port": http.server_address[1],
             "otlp_url": f"http://{args.host}:{otlp.server_address[1]}/v1/traces",
             "query_url": f"http://{args.host}:{http.server_address[1]}", "engine_version": store.version}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.ready_file:
        tmp = Path(args.ready_file).with_suffix(".tmp")
        tmp.write_text(json.dumps(ready))
        tmp.replace(args.ready_file)
    print("READY " + json.dumps(ready), flush=True)
    stop.wait()
    log.info("stopping")
    for server in (otlp, http):
        server.shutdown()
        server.server_close()
    store.close()
    return 0
