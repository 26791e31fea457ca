"""The stand-in API as a process: arguments, secrets from files, the JWT-secret rule, uvicorn.

``python -m runbook_lib.sandbox.agentops_api --port P --database-url-file F --jwt-secret-file F
[--token-lifetime-s N] [--trace-store-url URL --trace-store-user U --trace-store-password-file F
--trace-store-database D] [--cookie-domain D] [--app-url URL] [--ready-file F]`` prints
``READY {json}`` once it answers.

Without a JWT secret (no ``--jwt-secret-file`` and ``JWT_SECRET_KEY`` unset or empty) it exits 1
before listening, printing a traceback that ends ``KeyError: 'JWT_SECRET_KEY'``, as the real API
exits at import. Logs use the real API's format (``%Y-%m-%d %H:%M:%S - LEVEL - message``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import threading
import time
import traceback
from pathlib import Path

from ...errors import SandboxError
from .. import jwt_hs256
from .app import create_app
from .settings import ApiSettings

__all__ = ["main"]

LOG_FORMAT = "%(asctime)s - %(levelname)s - %(message)s"


def _read_file(path: str | None, what: str) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SandboxError(f"cannot read the {what} file {path} ({exc.strerror})",
                           hint="check the path given on the command line") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runbook_lib.sandbox.agentops_api",
                                     description="Sandbox stand-in for the self-hosted AgentOps API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port")
    parser.add_argument("--database-url-file", help="file with the PostgreSQL DSN (else env AGENTOPS_DATABASE_URL)")
    parser.add_argument("--jwt-secret-file", help="file with the JWT secret (else env JWT_SECRET_KEY; "
                        "without one the process exits as upstream does)")
    parser.add_argument("--token-lifetime-s", type=float,
                        default=float(os.environ.get("AGENTOPS_TOKEN_LIFETIME_S", jwt_hs256.DEFAULT_LIFETIME_S)))
    parser.add_argument("--trace-store-url", default=os.environ.get("AGENTOPS_TRACE_STORE_URL"),
                        help="ClickHouse HTTP URL of the trace store, e.g. http://127.0.0.1:8123")
    parser.add_argument("--trace-store-user", default="default")
    parser.add_argument("--trace-store-password-file", help="file with the trace store password")
    parser.add_argument("--trace-store-database", default="otel_2")
    parser.add_argument("--cookie-domain", default="localhost",
                        help="Domain of the session cookie (upstream: API_DOMAIN without the port)")
    parser.add_argument("--app-url", default="http://localhost:3000",
                        help="the dashboard's origin, allowed by the /v4 answers' CORS headers (upstream: APP_URL)")
    parser.add_argument("--ready-file", help="write {pid, port, url} here when ready")
    parser.add_argument("--log-level", default="info")
    return parser


def _refuse_without_jwt_secret() -> int:
    print("error: no JWT secret: the AgentOps API does not start without JWT_SECRET_KEY\n"
          "  fix: pass --jwt-secret-file or set JWT_SECRET_KEY", file=sys.stderr)
    try:
        raise KeyError("JWT_SECRET_KEY")
    except KeyError:
        traceback.print_exc()
    return 1


def main(argv: list[str] | None = None) -> int:
    """Run the stand-in until stopped; 1 without a JWT secret, 2 for other start-up errors."""
    import uvicorn

    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format=LOG_FORMAT,
                        datefmt="%Y-%m-%d %H:%M:%S")
    try:
        jwt_secret = _read_file(args.jwt_secret_file, "JWT secret") or os.environ.get("JWT_SECRET_KEY", "")
        if not jwt_secret:
            return _refuse_without_jwt_secret()
        dsn = _read_file(args.database_url_file, "database URL") or os.environ.get("AGENTOPS_DATABASE_URL")
        if not dsn:
            raise SandboxError("no database URL given",
                               hint="pass --database-url-file or set AGENTOPS_DATABASE_URL")
        settings = ApiSettings(
            database_url=dsn, jwt_secret=jwt_secret, token_lifetime_s=args.token_lifetime_s,
            trace_store_url=args.trace_store_url, trace_store_user=args.trace_store_user,
            trace_store_password=_read_file(args.trace_store_password_file, "trace store password") or "",
            trace_store_database=args.trace_store_database, cookie_domain=args.cookie_domain,
            app_url=args.app_url,
        )
        if cookie_secret := os.environ.get("AUTH_COOKIE_SECRET"):
            settings.cookie_secret = cookie_secret
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((args.host, args.port))
        except OSError as exc:
            raise SandboxError(f"cannot listen on {args.host} port {args.port} ({exc.strerror})",
                               hint="another process holds the port; pick a free one (or 0)") from None
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level=args.log_level.lower(),
                                           access_log=True, lifespan="off"))

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.02)
        if server.started:
            ready = {"pid": os.getpid(), "port": port, "url": f"http://{args.host}:{port}"}
            if args.ready_file:
                tmp = Path(args.ready_file).with_suffix(".tmp")
                tmp.write_text(json.dumps(ready))
                tmp.replace(args.ready_file)
            print("READY " + json.dumps(ready), flush=True)

    threading.Thread(target=announce, daemon=True).start()
    server.run(sockets=[sock])
    return 0
