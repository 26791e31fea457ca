"""A stand-in for the self-hosted AgentOps API: the SDK auth and public read routes, upstream-faithful.

Routes, status codes and bodies follow ``app/api/agentops/api/routes/v3.py``, ``api/auth.py`` and
``public/v1/*`` (see ``agentops-selfhosted.md`` §6):

- ``GET /health`` -> ``{"message": "Server Up"}`` without touching the database;
- ``POST /v3/auth/token {"api_key"}`` -> 200 ``{token, project_id, project_prem_status}``; 400
  ``{"error": "Invalid API key format"}``; 403 ``{"error": "Invalid API key"}``; 422 when the field is
  missing; 500 ``{"error": "Authentication failed"}`` for any other failure, schema drift included:
  the lookup is the API's own statement (:data:`runbook_lib.db.auth_query.AUTH_QUERY`), so on an
  early database PostgreSQL raises ``UndefinedColumn`` and the log reads
  ``Error authenticating: (psycopg.errors.UndefinedColumn) column user_orgs_1.is_paid does not exist``.
  With no JWT secret configured the lookup still runs and signing fails inside the same ``try``, so
  this route answers 500 ``Authentication failed`` too (the log says ``JWT secret not configured``);
- ``GET /v3/auth/token`` (Bearer) -> 200 ``{message, payload, expires_at}``; 401 ``{"detail": …}`` for a
  missing header, bad format, expiry, wrong audience or bad signature, and ``Reauthorized to use new
  plan`` when the org's plan changed since the token was issued; 500 ``{"detail": "JWT secret not
  configured"}`` without a secret;
- ``POST /public/v1/auth/access_token {"api_key"}`` -> ``{"bearer"}``; 400 / 404 ``{"detail": …}``;
- ``GET /public/v1/project`` and ``GET /public/v1/traces/{trace_id}`` with a Bearer token (missing or
  invalid -> 400); traces are read from the trace store's ClickHouse HTTP endpoint; a trace of another
  project is 404 ``Trace not found``.

Unhandled errors answer 500 ``{"error": "Internal Server Error"}`` as upstream's ExceptionMiddleware
does. Unlike upstream (SQLAlchemy adds ``[parameters: …]``), logs never contain the API key.

Run: ``python -m runbook_lib.sandbox.agentops_api --port P --database-url-file F --jwt-secret-file F
[--token-lifetime-s N] [--trace-store-url URL --trace-store-user U --trace-store-password-file F]
[--ready-file F]``. It prints ``READY {json}`` once it answers.
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
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pydantic
from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from ..db.auth_query import AUTH_QUERY
from ..errors import SandboxError
from ..traces import schema
from . import jwt_hs256

__all__ = ["ApiSettings", "ProjectRow", "create_app", "main"]

log = logging.getLogger("agentops.api")

_WHERE_BY_KEY = "WHERE projects.api_key = %(api_key)s::uuid"
if not AUTH_QUERY.rstrip().endswith(_WHERE_BY_KEY):  # pragma: no cover (guards a contract change)
    raise ImportError("runbook_lib.db.auth_query.AUTH_QUERY no longer ends with the api_key filter")
#: ``ProjectModel.get_by_id``: the same joins and columns, filtered by project id.
BY_ID_QUERY = AUTH_QUERY.rstrip()[: -len(_WHERE_BY_KEY)] + "WHERE projects.id = %(project_id)s::uuid"

_JWT_FIELDS = ("exp", "aud", "project_id", "project_prem_status", "api_key", "dev")


@dataclass
class ApiSettings:
    """Configuration of one API process. Secrets are values here; the CLI reads them from files."""

    database_url: str
    jwt_secret: str = ""
    token_lifetime_s: float = jwt_hs256.DEFAULT_LIFETIME_S
    trace_store_url: str | None = None
    trace_store_user: str = "default"
    trace_store_password: str = ""
    db_connect_timeout_s: float = 5.0


@dataclass(frozen=True)
class ProjectRow:
    """The parts of the joined project lookup the routes use."""

    id: str
    name: str
    environment: str
    api_key: str
    prem_status: str


class _TokenBody(pydantic.BaseModel):
    api_key: str


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _sqlalchemy_style(exc: BaseException) -> str:
    """``(module.Class) first line`` as SQLAlchemy wraps DBAPI errors, without SQL or parameters."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"({type(exc).__module__}.{type(exc).__name__}) {first}"


def create_app(settings: ApiSettings) -> FastAPI:
    """The FastAPI application for ``settings``."""
    app = FastAPI(title="AgentOps API (sandbox stand-in)", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def exception_middleware(request: Request, call_next: Any) -> Any:
        try:
            return await call_next(request)
        except Exception as exc:
            log.error("Exception: %s", _sqlalchemy_style(exc) if isinstance(exc, psycopg.Error) else exc)
            return JSONResponse({"error": "Internal Server Error"}, status_code=500)

    def lookup(query: str, params: dict[str, str]) -> ProjectRow | None:
        with psycopg.connect(settings.database_url, autocommit=True,
                             connect_timeout=max(1, int(settings.db_connect_timeout_s)),
                             application_name="agentops-api-standin") as conn:
            cur = conn.execute(query, params)
            row = cur.fetchone()
            if row is None:
                return None
            values = dict(zip([c.name for c in cur.description], row, strict=True))
        return ProjectRow(id=str(values["projects_id"]), name=str(values["projects_name"]),
                          environment=str(values["projects_environment"]),
                          api_key=str(values["projects_api_key"]), prem_status=str(values["orgs_1_prem_status"]))

    def generate(project: ProjectRow) -> str:
        if not settings.jwt_secret:
            raise HTTPException(status_code=500, detail="JWT secret not configured")
        return jwt_hs256.issue_token(settings.jwt_secret, project_id=project.id,
                                     project_prem_status=project.prem_status, api_key=project.api_key,
                                     lifetime_s=settings.token_lifetime_s)

    def verify(token: str) -> dict[str, Any]:
        if not settings.jwt_secret:
            raise HTTPException(status_code=500, detail="JWT secret not configured")
        claims = jwt_hs256.verify_api_token(token, settings.jwt_secret)
        unknown = set(claims) - set(_JWT_FIELDS)
        missing = set(_JWT_FIELDS[:5]) - set(claims)
        if unknown or missing:  # upstream: JWTPayload(**claims) raises TypeError -> 500
            raise TypeError(f"unexpected token claims: {sorted(unknown | missing)}")
        return claims

    def payload_dict(claims: dict[str, Any]) -> dict[str, Any]:
        out = {key: claims[key] for key in _JWT_FIELDS[:5]}
        if claims.get("dev"):
            out["dev"] = claims["dev"]
        return out

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"message": "Server Up"}

    @app.post("/v3/auth/token")
    def get_token(body: _TokenBody) -> Any:
        try:
            api_key = uuid.UUID(body.api_key)
            project = lookup(AUTH_QUERY, {"api_key": str(api_key)})
            if project is None:
                log.warning("Invalid API key: Invalid API key")
                return _error(403, "Invalid API key")
            return {"token": generate(project), "project_id": project.id,
                    "project_prem_status": project.prem_status}
        except ValueError as exc:
            log.warning("Invalid API key format: %s", exc)
            return _error(400, "Invalid API key format")
        except Exception as exc:
            detail = _sqlalchemy_style(exc) if isinstance(exc, psycopg.Error) else (
                f"{exc.status_code}: {exc.detail}" if isinstance(exc, HTTPException) else str(exc))
            log.error("Error authenticating: %s", detail)
            return _error(500, "Authentication failed")

    def bearer_claims(authorization: str | None) -> dict[str, Any]:
        if not authorization:
            raise HTTPException(status_code=401, detail="Authorization header missing")
        try:
            scheme, token = authorization.split()
            if scheme.lower() != "bearer":
                raise HTTPException(status_code=401, detail="Invalid authentication scheme")
            return verify(token)
        except ValueError:
            raise HTTPException(status_code=401, detail="Invalid token format") from None
        except jwt_hs256.ExpiredSignatureError:
            raise HTTPException(status_code=401, detail="Token has expired") from None
        except jwt_hs256.InvalidAudienceError:
            raise HTTPException(status_code=401, detail="Invalid audience") from None
        except jwt_hs256.InvalidTokenError:
            raise HTTPException(status_code=401, detail="Invalid token") from None

    @app.get("/v3/auth/token")
    def verify_token(authorization: str | None = Header(None)) -> Any:
        claims = bearer_claims(authorization)
        project = lookup(BY_ID_QUERY, {"project_id": str(claims["project_id"])})
        if project is None:  # upstream dereferences None -> unhandled -> 500
            raise RuntimeError("'NoneType' object has no attribute 'org'")
        if project.prem_status != claims["project_prem_status"]:
            raise HTTPException(status_code=401, detail="Reauthorized to use new plan")
        return {"message": "JWT token is valid", "payload": payload_dict(claims),
                "expires_at": datetime.fromtimestamp(claims["exp"]).isoformat()}

    @app.post("/public/v1/auth/access_token")
    def access_token(body: _TokenBody) -> Any:
        if not body.api_key:
            raise HTTPException(status_code=400, detail="api_key is required")
        try:
            uuid.UUID(body.api_key)
        except ValueError:
            raise HTTPException(status_code=400, detail="Invalid api_key format") from None
        project = lookup(AUTH_QUERY, {"api_key": body.api_key})
        if project is None:
            raise HTTPException(status_code=404, detail="Project not found")
        return {"bearer": generate(project)}

    def public_claims(request: Request) -> dict[str, Any]:
        header = request.headers.get("Authorization")
        if not header or not header.startswith("Bearer "):
            raise HTTPException(status_code=400, detail="Missing or invalid Authorization header")
        try:
            return verify(header.split(" ")[1])
        except Exception:
            raise HTTPException(status_code=400, detail="Invalid Bearer token") from None

    @app.get("/public/v1/project")
    def project_view(request: Request) -> Any:
        claims = public_claims(request)
        project = lookup(BY_ID_QUERY, {"project_id": str(claims["project_id"])})
        if project is None:
            raise HTTPException(status_code=404, detail="Project not found")
        return {"id": project.id, "name": project.name, "environment": project.environment}

    @app.get("/public/v1/traces/{trace_id}")
    def trace_view(trace_id: str, request: Request) -> Any:
        claims = public_claims(request)
        spans = _read_trace(settings, trace_id)
        if not spans:
            raise HTTPException(status_code=404, detail="Trace not found")
        projects = {span["project_id"] for span in spans}
        if len(projects) != 1:
            raise AssertionError("All spans in a trace are expected to have the same project_id")
        project_id = projects.pop()
        if project_id != str(claims["project_id"]):
            raise HTTPException(status_code=404, detail="Trace not found")
        return {"trace_id": trace_id, "project_id": project_id, "tags": _tags(spans[0]["tags"]),
                "spans": [_span_summary(span) for span in spans]}

    return app


_TRACE_SQL = (
    "SELECT SpanId AS span_id, ParentSpanId AS parent_span_id, SpanName AS span_name, "
    "SpanKind AS span_kind, toString(toUnixTimestamp64Nano(Timestamp)) AS start_ns, Duration AS duration, "
    "StatusCode AS status_code, StatusMessage AS status_message, project_id, "
    "SpanAttributes['agentops.tags'] AS tags "
    f"FROM {schema.QUALIFIED} WHERE TraceId = {{trace_id:String}} ORDER BY Timestamp ASC"
)


def _read_trace(settings: ApiSettings, trace_id: str) -> list[dict[str, Any]]:
    if not settings.trace_store_url:
        raise RuntimeError("ClickHouse is not configured (no trace store URL)")
    response = httpx.post(
        settings.trace_store_url.rstrip("/") + "/",
        params={"default_format": "JSONEachRow", "param_trace_id": trace_id},
        content=_TRACE_SQL.encode(),
        auth=(settings.trace_store_user, settings.trace_store_password),
        timeout=10.0,
    )
    if response.status_code != 200:
        raise RuntimeError(f"ClickHouse query failed with HTTP {response.status_code}: {response.text[:300]}")
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def _tags(value: str) -> list[str]:
    try:
        tags = json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return []
    return [str(t) for t in tags] if isinstance(tags, list) else []


def _span_summary(span: dict[str, Any]) -> dict[str, Any]:
    start_ns, duration = int(span["start_ns"]), int(span["duration"])
    start = datetime.fromtimestamp(start_ns // 1_000_000_000, tz=timezone.utc) + timedelta(
        microseconds=(start_ns % 1_000_000_000) // 1000)
    end = start + timedelta(seconds=duration // 1_000_000_000, microseconds=(duration % 1_000_000_000) // 1000)
    return {
        "span_id": span["span_id"], "parent_span_id": span["parent_span_id"], "span_name": span["span_name"],
        "span_kind": span["span_kind"], "start_time": start.isoformat(), "end_time": end.isoformat(),
        "duration": duration, "status_code": str(span["status_code"]).upper(),
        "status_message": span["status_message"],
    }


# --- process -------------------------------------------------------------------------------------


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
                        "unset: token routes fail as upstream does)")
    parser.add_argument("--token-lifetime-s", type=float,
                        default=float(os.environ.get("AGENTOPS_TOKEN_LIFETIME_S", jwt_hs256.DEFAULT_LIFETIME_S)))
    parser.add_argument("--trace-store-url", default=os.environ.get("AGENTOPS_TRACE_STORE_URL"),
                        help="ClickHouse HTTP URL of the trace store, e.g. http://127.0.0.1:8123")
    parser.add_argument("--trace-store-user", default="default")
    parser.add_argument("--trace-store-password-file", help="file with the trace store password")
    parser.add_argument("--ready-file", help="write {pid, port, url} here when ready")
    parser.add_argument("--log-level", default="info")
    return parser


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        dsn = _read_file(args.database_url_file, "database URL") or os.environ.get("AGENTOPS_DATABASE_URL")
        if not dsn:
            raise SandboxError("no database URL given",
                               hint="pass --database-url-file or set AGENTOPS_DATABASE_URL")
        settings = ApiSettings(
            database_url=dsn,
            jwt_secret=_read_file(args.jwt_secret_file, "JWT secret") or os.environ.get("JWT_SECRET_KEY", ""),
            token_lifetime_s=args.token_lifetime_s,
            trace_store_url=args.trace_store_url,
            trace_store_user=args.trace_store_user,
            trace_store_password=_read_file(args.trace_store_password_file, "trace store password") or "",
        )
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
    if not settings.jwt_secret:
        log.warning("JWT_SECRET_KEY is not set: token routes will fail")
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


if __name__ == "__main__":
    sys.exit(main())
