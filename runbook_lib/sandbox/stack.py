"""The whole sandbox on 127.0.0.1: PostgreSQL, the AgentOps stand-ins and the real LiteLLM proxy.

:func:`up` starts, in order: an egress trap (so nothing the proxy does can leave the machine), a
PostgreSQL cluster holding an AgentOps-shaped database at ``schema_level`` (seeded user, org, project
and API key), the trace store (OTLP collector + ClickHouse-compatible query endpoint), the AgentOps API
stand-in, and the LiteLLM proxy wired with ``agentops_selfhosted.handler``. Every port is free and on
127.0.0.1. Secrets (database password and DSN, master key, API key, JWT secret, store password) are
generated and written to ``<state>/secrets/`` with mode 0600; ``<state>/params.yaml`` refers to them
with ``file:`` references, so ``runbook run all -f <state>/params.yaml`` works. ``<state>/state.json``
records pids, ports and URLs (no secrets) so :func:`status` and :func:`down` work from any process.

:func:`down` stops every process by pid, checks none is left, and keeps the state folder unless
``purge``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import SandboxError, SandboxRunningError
from .egress_trap import proxy_env, read_attempts
from .litellm_proxy import ANSWER_MODEL, PROXY_MODULE, start_proxy
from .processes import free_port, is_running, spawn_module, stop_pid, wait_for_http

__all__ = [
    "API_IMPLS",
    "DEFAULT_STATE_DIR",
    "SCHEMA_LEVELS",
    "STORE_LEVELS",
    "down",
    "load_state",
    "provision_store",
    "start_agentops_api",
    "status",
    "stop_service",
    "up",
    "wait_for_service",
]

DEFAULT_STATE_DIR = ".sandbox"
SCHEMA_LEVELS = ("early", "invites_fixed", "field_guide", "current")
#: ``bare``: only ``otel_2.otel_traces`` (the field guide's install); ``current``: every object the API uses.
STORE_LEVELS = ("bare", "current")
#: The AgentOps API the sandbox runs: the project's stand-in or the real one from a checkout.
API_IMPLS = ("standin", "upstream")
STATE_FILE = "state.json"
PARAMS_FILE = "params.yaml"
TRAP_MODULE = "runbook_lib.sandbox.egress_trap"
STORE_MODULE = "runbook_lib.sandbox.trace_store_server"
API_MODULE = "runbook_lib.sandbox.agentops_api"
#: How long an API may take to answer /health (upstream's import alone takes 4-9 s on an idle machine).
API_DEADLINE_S = 180.0
DATABASE = "agentops"
#: Processes in stop order (the proxy first: it exports to the store until the end).
SERVICE_ORDER = ("litellm", "agentops_api", "trace_store", "egress_trap")

Progress = Callable[[str], None]


def _state_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / STATE_FILE


def load_state(state_dir: str | Path = DEFAULT_STATE_DIR) -> dict[str, Any]:
    """The state file of a sandbox, or a SandboxError saying there is none."""
    path = _state_path(state_dir)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SandboxError(f"no sandbox state in {Path(state_dir)}",
                           hint="start one with `runbook sandbox up` (or pass --state-dir)") from None
    except (OSError, ValueError) as exc:
        raise SandboxError(f"cannot read {path} ({exc.__class__.__name__})",
                           hint="stop the processes by hand, or delete the folder") from None


def _write_state(state_dir: Path, state: dict[str, Any]) -> None:
    tmp = state_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(state_dir / STATE_FILE)


def _secret_file(secrets_dir: Path, name: str, value: str) -> Path:
    path = secrets_dir / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(value + "\n")
    os.chmod(path, 0o600)
    return path


def _running_services(state: dict[str, Any]) -> list[str]:
    running = [name for name, svc in state.get("services", {}).items()
               if is_running(svc.get("pid"), expect=svc.get("expect"))]
    pg = state.get("postgres") or {}
    if pg.get("data_dir") and _postgres_pid(pg) is not None:
        running.append("postgres")
    return running


def up(
    state_dir: str | Path = DEFAULT_STATE_DIR,
    schema_level: str = "early",
    *,
    store_level: str = "current",
    agentops_src: str | os.PathLike[str] | None = None,
    token_lifetime_s: float | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Start the sandbox; return its state (URLs, pids, secret file paths, timings). No secret values.

    With ``agentops_src`` the real AgentOps API of that checkout runs instead of the stand-in; a folder
    that is not a checkout, or a machine without Python 3.12, is refused before anything starts. On any
    failure everything started so far is stopped again and a SandboxError is raised.
    """
    say = progress or (lambda _msg: None)
    if schema_level not in SCHEMA_LEVELS:
        raise SandboxError(f"unknown schema level {schema_level!r}", hint=f"use one of {', '.join(SCHEMA_LEVELS)}")
    if store_level not in STORE_LEVELS:
        raise SandboxError(f"unknown store level {store_level!r}", hint=f"use one of {', '.join(STORE_LEVELS)}")
    upstream: dict[str, Any] | None = None
    if agentops_src is not None:
        from . import upstream_api

        src = upstream_api.check_checkout(agentops_src)
        upstream = {"src": src, "python": upstream_api.find_python312()}
    state_path = Path(state_dir).absolute()
    if _state_path(state_path).exists():
        old = load_state(state_path)
        still = _running_services(old)
        if still:
            folder = state_path
            raise SandboxRunningError(
                f"a sandbox is already running from {state_path} ({', '.join(still)})",
                hint=f"use it (`runbook run all -f {folder / 'params.yaml'}`), stop it first "
                f"(`runbook sandbox down --state-dir {folder}`), or start another with a different --state-dir")
    started = time.monotonic()
    build_s = None
    if upstream is not None:
        from . import upstream_api

        t = time.monotonic()
        upstream["venv"] = upstream_api.build_venv(upstream["src"], python=upstream["python"], progress=say)
        build_s = round(time.monotonic() - t, 3)
    state_path.mkdir(parents=True, exist_ok=True)
    secrets_dir = state_path / "secrets"
    secrets_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(secrets_dir, 0o700)
    logs = state_path / "logs"
    logs.mkdir(exist_ok=True)

    values = {
        "db_password": secrets.token_urlsafe(18),
        "master_key": "sk-sandbox-" + secrets.token_urlsafe(24),
        "api_key": str(uuid.uuid4()),
        "jwt_secret": secrets.token_urlsafe(48),
        "store_password": secrets.token_urlsafe(18),
    }
    from ..secrets import remember_secret

    for value in values.values():
        remember_secret(value)
    files = {name: _secret_file(secrets_dir, name, value) for name, value in values.items()
             if name != "db_password"}
    state: dict[str, Any] = {
        "state_dir": str(state_path), "schema_level": schema_level, "store_level": store_level,
        "started_at": time.time(), "services": {}, "postgres": {}, "timings": {}, "status": "starting",
        "secret_files": {name: str(path) for name, path in files.items()},
    }
    if build_s is not None:
        state["timings"]["upstream_venv"] = build_s
    try:
        _start_all(state, state_path, logs, files, values, schema_level, store_level, upstream, token_lifetime_s,
                   say)
    except BaseException:
        say("start-up failed; stopping what was started")
        _stop_all(state)
        state["status"] = "failed"
        _write_state(state_path, state)
        raise
    state["timings"]["total_s"] = round(time.monotonic() - started, 3)
    state["status"] = "up"
    state["params_file"] = str(_write_params(state_path, state, files))
    _write_state(state_path, state)
    return state


def seed_trace_history(state: dict[str, Any], n_traces: int, *, days: float = 7.0, seed: int = 7) -> int:
    """Insert seeded synthetic traces for the sandbox project (``days`` of history up to now) into the
    trace store, so analytics has realistic shapes to show; returns the number of spans inserted."""
    from ..traces.store import ClickHouseHttpStore
    from ..traces.synthetic import generate_table, insert_traces

    store_svc = state["services"]["trace_store"]
    store = ClickHouseHttpStore(store_svc["url"], store_svc.get("user", "default"),
                                f"file:{state['secret_files']['store_password']}")
    try:
        table = generate_table(n_traces, days=days, end="now", seed=seed, project_ids=[state["seed"]["project_id"]])
        return insert_traces(store, table)
    finally:
        store.close()


def _timed(state: dict[str, Any], name: str, say: Progress) -> Any:
    class _Timer:
        def __enter__(self) -> None:
            say(f"starting {name} ...")
            self.t = time.monotonic()

        def __exit__(self, *exc: object) -> None:
            state["timings"][name] = round(time.monotonic() - self.t, 3)

    return _Timer()


def _start_all(state: dict[str, Any], state_path: Path, logs: Path, files: dict[str, Path], values: dict[str, str],
               schema_level: str, store_level: str, upstream: dict[str, Any] | None,
               token_lifetime_s: float | None, say: Progress) -> None:
    """Start every service. Slow starters overlap: the trace store (chDB) loads while PostgreSQL starts,
    and the API imports while the store is provisioned and the LiteLLM proxy starts."""
    services = state["services"]
    timings = state["timings"]

    with _timed(state, "egress_trap", say):
        port = free_port()
        log = logs / "egress_trap.log"
        egress_log = state_path / "egress.jsonl"
        proc = spawn_module(TRAP_MODULE, ["--port", str(port), "--log", str(egress_log)], log_path=log)
        services["egress_trap"] = {"pid": proc.pid, "port": port, "url": f"http://127.0.0.1:{port}",
                                   "log": str(log), "expect": TRAP_MODULE, "attempts_log": str(egress_log)}
        _write_state(state_path, state)
        wait_for_http(f"http://127.0.0.1:{port}/", process=proc, log_path=log, name="egress trap", deadline_s=30)

    say("starting trace_store ...")
    store_started = time.monotonic()
    otlp_port, http_port = free_port(), free_port()
    log = logs / "trace_store.log"
    args = ["--otlp-port", str(otlp_port), "--http-port", str(http_port), "--data", str(state_path / "store"),
            "--jwt-secret-file", str(files["jwt_secret"]), "--password-file", str(files["store_password"])]
    if upstream is not None:  # the checkout's migrations create otel_traces themselves
        args.append("--no-create-schema")
    store_proc = spawn_module(STORE_MODULE, args, log_path=log, env={"JWT_SECRET": ""})
    services["trace_store"] = {"pid": store_proc.pid, "port": http_port, "otlp_port": otlp_port,
                               "url": f"http://127.0.0.1:{http_port}",
                               "otlp_url": f"http://127.0.0.1:{otlp_port}/v1/traces",
                               "log": str(log), "expect": STORE_MODULE, "user": "default"}
    _write_state(state_path, state)

    # PostgreSQL's port is picked now, so the database URL is known before it starts: the upstream API
    # (slow to import, connects lazily) starts first and imports while everything else comes up.
    from .postgres import PostgresServer

    # a fresh folder under the temp dir: PostgresServer creates it and hands it to the postgres user
    pg_base = Path(tempfile.gettempdir()) / f"runbook-sandbox-pg-{uuid.uuid4().hex[:10]}"
    server = PostgresServer(pg_base / "data", free_port(), password=values["db_password"])
    state["postgres"] = {"base_dir": str(pg_base), "data_dir": str(server.data_dir), "log": str(server.log_path)}
    dsn = server.dsn(DATABASE)
    files["database_url"] = _secret_file(state_path / "secrets", "database_url", dsn)
    state["secret_files"]["database_url"] = str(files["database_url"])
    _write_state(state_path, state)

    impl = "upstream" if upstream is not None else "standin"
    api_started = 0.0

    def start_api() -> None:
        nonlocal api_started
        say("starting agentops_api ...")
        api_started = time.monotonic()
        services["agentops_api"] = start_agentops_api(
            state, impl, src=upstream["src"] if upstream else None, venv=upstream["venv"] if upstream else None,
            logs_dir=logs, token_lifetime_s=token_lifetime_s, wait=False,
            env_overrides=proxy_env(services["egress_trap"]["url"]))  # whatever it tries outside is refused
        _write_state(state_path, state)

    if impl == "upstream":
        start_api()

    with _timed(state, "postgres", say):
        from .agentops_db import build_agentops_db

        server.start()
        server.detach()
        state["postgres"].update({"port": server.port, "pid": server.pid})
        _write_state(state_path, state)
        server.create_database(DATABASE)
        seed = build_agentops_db(dsn, schema_level, api_key=values["api_key"], prem_status="enterprise")
        state["seed"] = {"project_id": seed.project_id, "org_id": seed.org_id, "user_id": seed.user_id,
                         "user_email": seed.user_email, "level": seed.level}

    if impl == "standin":
        start_api()

    wait_for_http(f"http://127.0.0.1:{http_port}/ping", process=store_proc, log_path=log, name="trace store",
                  deadline_s=90)
    wait_for_http(f"http://127.0.0.1:{otlp_port}/", process=store_proc, log_path=log, name="collector",
                  deadline_s=30)
    timings["trace_store"] = round(time.monotonic() - store_started, 3)
    with _timed(state, "store_provisioning", say):
        state["store_objects"] = provision_store(state, store_level, src=upstream["src"] if upstream else None)
        _write_state(state_path, state)

    with _timed(state, "litellm", say):
        proxy = start_proxy(
            state_path / "litellm", master_key=values["master_key"], wiring="selfhosted",
            agentops_env={"AGENTOPS_API_KEY": values["api_key"],
                          "AGENTOPS_API_ENDPOINT": services["agentops_api"]["url"],
                          "AGENTOPS_EXPORTER_ENDPOINT": services["trace_store"]["otlp_url"],
                          "AGENTOPS_SERVICE_NAME": "litellm-sandbox", "AGENTOPS_ENVIRONMENT": "sandbox"},
            egress_proxy_url=services["egress_trap"]["url"],
        )
        services["litellm"] = {"pid": proxy.pid, "port": proxy.port, "url": proxy.url, "log": str(proxy.log_path),
                               "expect": PROXY_MODULE, "config": str(proxy.config_path),
                               "startup_s": round(proxy.startup_s, 3)}
        _write_state(state_path, state)

    say("waiting for agentops_api ...")
    wait_for_service(services["agentops_api"])
    timings["agentops_api"] = round(time.monotonic() - api_started, 3)


def _store_client(state: dict[str, Any]) -> Any:
    from ..traces.store import ClickHouseHttpStore

    svc = state["services"]["trace_store"]
    password = f"file:{state['secret_files']['store_password']}"
    return ClickHouseHttpStore(svc["url"], svc.get("user", "default"), password)


def provision_store(state: dict[str, Any], store_level: str, *, src: str | os.PathLike[str] | None = None
                    ) -> list[str]:
    """Create the trace store's objects for ``store_level``; return the objects created.

    Without ``src`` (stand-in mode) the store already has ``otel_traces`` and ``current`` adds the
    project's :mod:`~runbook_lib.traces.dashboard_objects` and their price rows. With ``src`` (real mode)
    the store starts empty and the checkout's ``app/clickhouse/migrations`` are applied in order: at
    ``bare`` only the statements touching ``otel_2.otel_traces``, at ``current`` all of them, each
    dictionary's ClickHouse source pointed at the store itself.
    """
    from ..traces import schema

    if store_level not in STORE_LEVELS:
        raise SandboxError(f"unknown store level {store_level!r}", hint=f"use one of {', '.join(STORE_LEVELS)}")
    store = _store_client(state)
    try:
        if src is None:
            if store_level == "bare":
                return [schema.QUALIFIED]
            from ..traces import dashboard_objects

            for sql in dashboard_objects.create_statements(schema.DATABASE) + dashboard_objects.price_statements(
                    schema.DATABASE):
                store.execute(sql)
            return [schema.QUALIFIED] + [obj.qualified(schema.DATABASE) for obj in dashboard_objects.OBJECTS]
        from ..traces import clickhouse_migrations as migrations

        plan = migrations.read_plan(src)
        if store_level == "bare":
            plan = plan.only([schema.QUALIFIED])
        for database in plan.databases():  # the migrations assume their database exists
            store.execute(f"CREATE DATABASE IF NOT EXISTS {schema.quote_identifier(database)}")
        migrations.apply_plan(plan, store.execute, transform=migrations.point_dictionaries_at_local_store)
        return plan.created()
    finally:
        store.close()


def start_agentops_api(
    state: dict[str, Any],
    impl: str = "standin",
    *,
    src: str | os.PathLike[str] | None = None,
    venv: str | os.PathLike[str] | None = None,
    logs_dir: str | os.PathLike[str] | None = None,
    name: str = "agentops_api",
    env_overrides: Mapping[str, str] | None = None,
    token_lifetime_s: float | None = None,
    workers: int = 1,
    wait: bool = True,
) -> dict[str, Any]:
    """Start an AgentOps API (``impl`` standin or upstream) on a free port against the sandbox of ``state``
    (its database URL file, JWT secret file and trace store); return its service record
    (``impl, pid, port, url, log, expect``, and for upstream ``src, commit``).

    Usable for a second API beside a running sandbox (give another ``name``: the log is ``<name>.log``
    in ``logs_dir``, default the sandbox's logs folder). ``venv`` defaults to the cached build for
    ``src``. With ``wait`` it returns once the API answers ``/health``; stop it with :func:`stop_service`.
    """
    if impl not in API_IMPLS:
        raise SandboxError(f"unknown AgentOps API implementation {impl!r}", hint=f"use one of {', '.join(API_IMPLS)}")
    files = state["secret_files"]
    store = state["services"]["trace_store"]
    logs = Path(logs_dir) if logs_dir else Path(state["state_dir"]) / "logs"
    log = logs / f"{name}.log"
    port = free_port()
    if impl == "standin":
        args = ["--port", str(port), "--database-url-file", files["database_url"],
                "--jwt-secret-file", files["jwt_secret"], "--trace-store-url", store["url"],
                "--trace-store-user", store.get("user", "default"),
                "--trace-store-password-file", files["store_password"]]
        if token_lifetime_s is not None:
            args += ["--token-lifetime-s", str(token_lifetime_s)]
        env = {"JWT_SECRET_KEY": "", "AGENTOPS_DATABASE_URL": "", **(env_overrides or {})}
        proc = spawn_module(API_MODULE, args, log_path=log, env=env)
        record: dict[str, Any] = {"impl": "standin", "pid": proc.pid, "port": port,
                                  "url": f"http://127.0.0.1:{port}", "log": str(log), "expect": API_MODULE,
                                  "name": "AgentOps API stand-in"}
    else:
        from . import upstream_api

        if src is None:
            raise SandboxError("the upstream AgentOps API needs its checkout",
                               hint="pass src (or --agentops-src / AGENTOPS_SRC)")
        root = upstream_api.check_checkout(src)
        venv_dir = Path(venv) if venv else upstream_api.build_venv(root)
        env = upstream_api.api_env(
            venv=venv_dir, port=port, database_url=_read_file(files["database_url"]),
            jwt_secret=_read_file(files["jwt_secret"]),
            store_url=store["url"], store_user=store.get("user", "default"),
            store_password=_read_file(files["store_password"]))
        env.update(env_overrides or {})
        _remember_secrets_of(state, env)
        python, args = upstream_api.api_command(venv_dir, port, workers=workers)
        proc = spawn_module("uvicorn", args, log_path=log, env=env, cwd=root / upstream_api.API_DIR, python=python)
        record = {"impl": "upstream", "pid": proc.pid, "port": port, "url": f"http://127.0.0.1:{port}",
                  "log": str(log), "expect": upstream_api.API_APP, "src": str(root),
                  "commit": upstream_api.checkout_commit(root), "venv": str(venv_dir), "workers": workers,
                  "name": "AgentOps API (upstream)"}
    if wait:
        wait_for_service(record)
    return record


def wait_for_service(record: Mapping[str, Any], *, path: str = "/health", deadline_s: float = API_DEADLINE_S
                     ) -> float:
    """Wait until the service of ``record`` answers ``path``; SandboxError with its log tail otherwise."""
    return wait_for_http(record["url"] + path, pid=record["pid"], log_path=record.get("log"),
                         name=record.get("name") or record["url"], deadline_s=deadline_s)


def stop_service(record: Mapping[str, Any], *, grace_s: float = 10.0) -> bool:
    """Stop the process of a service record and every process of its group (uvicorn workers included)."""
    return stop_pid(record.get("pid"), grace_s=grace_s, expect=record.get("expect"))


#: Variables of the upstream API's environment that hold secrets.
_SECRET_ENV = ("JWT_SECRET_KEY", "SUPABASE_PASSWORD", "CLICKHOUSE_PASSWORD", "AUTH_COOKIE_SECRET")


def _remember_secrets_of(state: dict[str, Any], env: Mapping[str, str]) -> None:
    """Register the API's secrets (and the project API key, which upstream logs on auth failures) for
    redaction in this process, so a log tail in an error message never shows them."""
    from ..secrets import remember_secret

    values = [env[name] for name in _SECRET_ENV if env.get(name)]
    if state["secret_files"].get("api_key"):
        with contextlib.suppress(OSError):
            values.append(_read_file(state["secret_files"]["api_key"]))
    for value in values:
        remember_secret(value)


def _read_file(path: str | os.PathLike[str]) -> str:
    return Path(path).read_text(encoding="utf-8").strip()


def _write_params(state_path: Path, state: dict[str, Any], files: dict[str, Path]) -> Path:
    """params.yaml with one section per notebook (a runbook refuses names it does not declare)."""
    svc = state["services"]
    ref = {name: f"file:{path}" for name, path in files.items()}
    proxy = {"litellm_url": svc["litellm"]["url"], "litellm_master_key": ref["master_key"]}
    agentops = {"agentops_api_url": svc["agentops_api"]["url"], "agentops_api_key": ref["api_key"]}
    store = {"trace_store_url": svc["trace_store"]["url"], "trace_store_user": "default",
             "trace_store_password": ref["store_password"]}
    dashboard = {"dashboard_jwt_secret": ref["jwt_secret"], "dashboard_user_id": state["seed"]["user_id"]}
    checkout = {"agentops_src": svc["agentops_api"]["src"]} if svc["agentops_api"].get("src") else {}
    params = {
        "00_setup": {"litellm_config_path": svc["litellm"]["config"], **proxy, **agentops,
                     "otlp_endpoint": svc["trace_store"]["otlp_url"], **store, **checkout},
        "10_migration": {"database_url": ref["database_url"], "agentops_api_key": ref["api_key"]},
        "20_callback_verification": {**proxy, "model": ANSWER_MODEL, **agentops, **store,
                                     "requests_per_kind": 2, "deadline_s": 30.0, **dashboard},
        "30_trace_analytics": {**store, "project_id": state["seed"]["project_id"], "prem_status": "enterprise",
                               **checkout, "agentops_api_url": agentops["agentops_api_url"], **dashboard},
    }
    path = state_path / PARAMS_FILE
    header = ("# Parameters for the sandbox started by `runbook sandbox up` (secrets are file: references)\n"
              f"# runbook run all -f {path}\n")
    path.write_text(header + yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return path


def _postgres_pid(pg: dict[str, Any]) -> int | None:
    try:
        first = (Path(pg["data_dir"]) / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except (OSError, KeyError):
        return None
    return int(first) if first.isdigit() and is_running(int(first)) else None


def _stop_all(state: dict[str, Any]) -> list[str]:
    stopped: list[str] = []
    errors: list[str] = []
    for name in SERVICE_ORDER:
        svc = state.get("services", {}).get(name)
        if not svc:
            continue
        try:
            if stop_pid(svc.get("pid"), grace_s=10.0, expect=svc.get("expect")):
                stopped.append(name)
        except SandboxError as exc:
            errors.append(exc.message)
    pg = state.get("postgres") or {}
    if pg.get("data_dir"):
        from .postgres import PostgresServer

        was_running = _postgres_pid(pg) is not None
        try:
            PostgresServer(pg["data_dir"], pg.get("port")).stop(remove=False)
        except SandboxError as exc:
            errors.append(exc.message)
        if was_running:
            stopped.append("postgres")
        if pg.get("base_dir") and _postgres_pid(pg) is None:
            # the cluster is throwaway (up always builds a new one): keep its log, drop its files
            with contextlib.suppress(OSError):
                shutil.copyfile(pg["log"], Path(state["state_dir"]) / "logs" / "postgres.log")
            shutil.rmtree(pg["base_dir"], ignore_errors=True)
    left = _running_services(state)
    if left or errors:
        raise SandboxError(f"could not stop every sandbox process (still running: {', '.join(left) or 'none'}); "
                           + "; ".join(errors), hint="stop the listed pids by hand (see state.json)")
    return stopped


def down(state_dir: str | Path = DEFAULT_STATE_DIR, *, purge: bool = False) -> list[str]:
    """Stop every sandbox process by pid and verify none is left; return the names stopped.

    The state folder (logs, params, secrets) is kept unless ``purge``; the throwaway PostgreSQL
    cluster files (under the temp dir) are removed, its log is copied to ``logs/postgres.log``.
    """
    state_path = Path(state_dir).absolute()
    state = load_state(state_path)
    stopped = _stop_all(state)
    if purge:
        shutil.rmtree(state_path, ignore_errors=True)
    else:
        state["status"] = "down"
        state["stopped_at"] = time.time()
        _write_state(state_path, state)
    return stopped


def _probe(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as resp:  # noqa: S310 (127.0.0.1 only)
            return resp.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def status(state_dir: str | Path = DEFAULT_STATE_DIR) -> dict[str, Any]:
    """Per service: pid, URL, whether the process runs and whether it answers (for the AgentOps API also
    ``impl`` standin|upstream and, for upstream, ``src`` and ``commit``); the schema and store levels;
    plus egress attempts."""
    state = load_state(state_dir)
    health = {"litellm": "/health/liveliness", "agentops_api": "/health", "trace_store": "/ping",
              "egress_trap": "/"}
    out: dict[str, Any] = {"state_dir": state.get("state_dir"), "schema_level": state.get("schema_level"),
                           "store_level": state.get("store_level", "bare"), "status": state.get("status"),
                           "params_file": state.get("params_file"), "services": {}}
    for name, svc in state.get("services", {}).items():
        alive = is_running(svc.get("pid"), expect=svc.get("expect"))
        out["services"][name] = {"pid": svc.get("pid"), "url": svc.get("url"), "running": alive,
                                 "answers": alive and _probe(svc["url"] + health.get(name, "/"))}
        if "impl" in svc:  # which AgentOps API runs
            out["services"][name].update({k: svc.get(k) for k in ("impl", "src", "commit") if k in svc})
    pg = state.get("postgres") or {}
    if pg:
        pid = _postgres_pid(pg)
        out["services"]["postgres"] = {"pid": pid, "url": f"postgresql://127.0.0.1:{pg.get('port')}/{DATABASE}",
                                       "running": pid is not None, "answers": pid is not None}
    trap = state.get("services", {}).get("egress_trap") or {}
    out["egress_attempts"] = read_attempts(trap["attempts_log"]) if trap.get("attempts_log") else []
    return out
