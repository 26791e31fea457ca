"""The AgentOps API stand-in: token routes, drift failure and its upstream-shaped log, JWT rules, public read API."""

from __future__ import annotations

import os
import socket
import time
import uuid

import httpx
import jwt
import psycopg
import pytest

from runbook_lib.sandbox import jwt_hs256, processes
from tests.plugins.agentops_standin import API_MODULE, StandinApi, StandinStore, make_export_request

pytestmark = [pytest.mark.postgres, pytest.mark.sandbox]


def get_token(api: StandinApi, api_key: str | None = None) -> httpx.Response:
    return httpx.post(api.url + "/v3/auth/token", json={"api_key": api_key or api.seed.api_key}, timeout=30)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_health_answers_without_the_database(agentops_api: StandinApi) -> None:
    response = httpx.get(agentops_api.url + "/health")
    assert response.status_code == 200 and response.json() == {"message": "Server Up"}


def test_token_for_a_valid_key(agentops_api: StandinApi) -> None:
    response = get_token(agentops_api)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "project_id", "project_prem_status"}
    assert body["project_id"] == agentops_api.seed.project_id and body["project_prem_status"] == "pro"
    assert agentops_api.seed.api_key not in agentops_api.log_text()
    assert body["token"] not in agentops_api.log_text()


def test_jwt_claims_follow_upstream(agentops_api: StandinApi) -> None:
    token = get_token(agentops_api).json()["token"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, agentops_api.jwt_secret, algorithms=["HS256"], audience="authenticated")
    assert list(claims) == ["exp", "aud", "project_id", "project_prem_status", "api_key"]
    assert claims["aud"] == "authenticated" and claims["api_key"] == agentops_api.seed.api_key
    assert claims["project_id"] == agentops_api.seed.project_id
    assert abs(claims["exp"] - (time.time() + 30 * 24 * 3600)) < 120


@pytest.mark.parametrize("body,status,expected", [
    ({"api_key": "not-a-uuid"}, 400, {"error": "Invalid API key format"}),
    ({"api_key": "00000000-0000-4000-8000-000000000000"}, 403, {"error": "Invalid API key"}),
])
def test_token_errors(agentops_api: StandinApi, body: dict, status: int, expected: dict) -> None:
    response = httpx.post(agentops_api.url + "/v3/auth/token", json=body)
    assert response.status_code == status and response.json() == expected


def test_token_missing_field_is_422(agentops_api: StandinApi) -> None:
    response = httpx.post(agentops_api.url + "/v3/auth/token", json={})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "api_key"]


def key_parameters(api_key: str) -> str:
    """The line SQLAlchemy adds to a failed lookup by key: the key in clear, as upstream logs it."""
    return f"[parameters: {{'api_key_1': UUID('{api_key}')}}]"


def test_early_schema_fails_with_500_from_the_real_undefined_column(start_agentops_api) -> None:
    api = start_agentops_api("early")
    response = get_token(api)
    assert response.status_code == 500 and response.json() == {"error": "Authentication failed"}
    log = api.log_text()
    assert "Error authenticating: (psycopg.errors.UndefinedColumn) column user_orgs_1.is_paid does not exist" in log
    # Upstream's shape: driver message, [SQL: ...], [parameters: {... key ...}], background link; once per request.
    entry = log[log.index("Error authenticating: "):]
    assert "\n[SQL: SELECT " in entry and "WHERE projects.api_key = %(api_key_1)s::UUID]" in entry
    assert entry.count(key_parameters(api.seed.api_key)) == 1
    assert "(Background on this error at: https://sqlalche.me/e/20/f405)" in entry
    assert log.count(api.seed.api_key) == 1
    # The same statement run directly fails the same way: the stand-in did not invent the error.
    from runbook_lib.db.auth_query import AUTH_QUERY

    with psycopg.connect(api.dsn) as conn, pytest.raises(psycopg.errors.UndefinedColumn, match="user_orgs_1.is_paid"):
        conn.execute(AUTH_QUERY, {"api_key": api.seed.api_key})


def test_early_schema_public_access_token_logs_the_key_like_upstream(start_agentops_api) -> None:
    api = start_agentops_api("early")
    with httpx.Client(base_url=api.url) as client:
        for attempt in (1, 2):
            response = client.post("/public/v1/auth/access_token", json={"api_key": api.seed.api_key})
            assert response.status_code == 500 and response.json() == {"error": "Internal Server Error"}
            # uvicorn's copy is written after the answer; the connection's next request waits for it.
            assert client.get("/health").status_code == 200
            log = api.log_text()
            # Unhandled upstream: the exception middleware logs message + traceback, uvicorn the traceback again.
            assert log.count(key_parameters(api.seed.api_key)) == 3 * attempt
            assert log.count("Exception in ASGI application") == attempt
    assert "ERROR - Exception: (psycopg.errors.UndefinedColumn) column user_orgs_1.is_paid does not exist" in log
    assert "sqlalchemy.exc.ProgrammingError: (psycopg.errors.UndefinedColumn)" in log
    assert "Traceback (most recent call last):" in log
    assert log.index("POST /public/v1/auth/access_token") < log.index("Exception in ASGI application")


def test_invites_fixed_level_names_the_next_missing_column(start_agentops_api) -> None:
    api = start_agentops_api("invites_fixed")
    assert get_token(api).status_code == 500
    assert "column user_orgs_1.is_paid does not exist" in api.log_text()
    with psycopg.connect(api.dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE public.user_orgs ADD COLUMN is_paid boolean DEFAULT false")
    assert get_token(api).status_code == 500
    assert "column orgs_1.subscription_id does not exist" in api.log_text()
    with psycopg.connect(api.dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE public.orgs ADD COLUMN subscription_id text")
    assert get_token(api).status_code == 200  # repaired in place, no restart


def test_without_a_jwt_secret_the_process_refuses_to_start(tmp_path) -> None:
    import subprocess
    import sys

    port = processes.free_port()
    dsn_file = tmp_path / "dsn"
    dsn_file.write_text("postgresql://127.0.0.1:1/none")
    env = {k: v for k, v in os.environ.items() if k != "JWT_SECRET_KEY"}
    for extra_env in ({}, {"JWT_SECRET_KEY": ""}):
        done = subprocess.run([sys.executable, "-m", API_MODULE, "--port", str(port), "--database-url-file",
                               str(dsn_file)], env={**env, **extra_env}, capture_output=True, text=True)
        assert done.returncode == 1
        assert done.stderr.rstrip().endswith("KeyError: 'JWT_SECRET_KEY'")
        assert "Traceback (most recent call last):" in done.stderr and "READY" not in done.stdout
    with socket.socket() as probe:  # it never listened
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_verify_token_returns_payload_and_expiry(agentops_api: StandinApi) -> None:
    token = get_token(agentops_api).json()["token"]
    response = httpx.get(agentops_api.url + "/v3/auth/token", headers=bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "JWT token is valid"
    assert set(body["payload"]) == {"exp", "aud", "project_id", "project_prem_status", "api_key"}
    from datetime import datetime

    assert datetime.fromisoformat(body["expires_at"]).timestamp() == body["payload"]["exp"]


def test_verify_token_401_cases(agentops_api: StandinApi) -> None:
    secret = agentops_api.jwt_secret
    seed = agentops_api.seed
    good = {"project_id": seed.project_id, "project_prem_status": "pro", "api_key": seed.api_key}
    cases = {
        "Authorization header missing": None,
        "Invalid token format": "Bearer",
        "Invalid authentication scheme": f"Basic {jwt_hs256.issue_token(secret, **good)}",
        "Token has expired": f"Bearer {jwt_hs256.issue_token(secret, lifetime_s=-10, **good)}",
        "Invalid audience": "Bearer " + jwt.encode({**good, "exp": int(time.time()) + 60, "aud": "other"}, secret),
        "Invalid token": f"Bearer {jwt_hs256.issue_token('some-other-secret-0123456789abcdef', **good)}",
    }
    for detail, header in cases.items():
        headers = {} if header is None else {"Authorization": header}
        response = httpx.get(agentops_api.url + "/v3/auth/token", headers=headers)
        assert response.status_code == 401, (detail, response.text)
        assert response.json() == {"detail": detail}


def test_short_lifetime_tokens_expire(start_agentops_api) -> None:
    """The lifetime flag sets ``exp``; a negative lifetime issues a token already past it, so nothing sleeps."""
    api = start_agentops_api("current", lifetime_s=-30)
    issued_at = time.time()
    token = get_token(api).json()["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert issued_at - 32 <= claims["exp"] <= time.time() - 28
    response = httpx.get(api.url + "/v3/auth/token", headers=bearer(token))
    assert response.status_code == 401 and response.json() == {"detail": "Token has expired"}


def test_plan_change_invalidates_older_tokens(start_agentops_api) -> None:
    api = start_agentops_api("current", prem_status="pro")
    token = get_token(api).json()["token"]
    assert httpx.get(api.url + "/v3/auth/token", headers=bearer(token)).status_code == 200
    with psycopg.connect(api.dsn, autocommit=True) as conn:
        conn.execute("UPDATE public.orgs SET prem_status = 'enterprise' WHERE id = %s", (api.seed.org_id,))
    response = httpx.get(api.url + "/v3/auth/token", headers=bearer(token))
    assert response.status_code == 401 and response.json() == {"detail": "Reauthorized to use new plan"}
    fresh = get_token(api).json()
    assert fresh["project_prem_status"] == "enterprise"
    assert httpx.get(api.url + "/v3/auth/token", headers=bearer(fresh["token"])).status_code == 200


def test_public_access_token_and_project(agentops_api: StandinApi) -> None:
    url = agentops_api.url + "/public/v1"
    response = httpx.post(url + "/auth/access_token", json={"api_key": agentops_api.seed.api_key})
    assert response.status_code == 200 and set(response.json()) == {"bearer"}
    token = response.json()["bearer"]
    project = httpx.get(url + "/project", headers=bearer(token))
    assert project.status_code == 200
    assert project.json() == {"id": agentops_api.seed.project_id, "name": "Default Project",
                              "environment": "development"}
    assert httpx.post(url + "/auth/access_token", json={"api_key": "x"}).json() == {"detail": "Invalid api_key format"}
    assert httpx.post(url + "/auth/access_token", json={"api_key": ""}).json() == {"detail": "api_key is required"}
    missing = httpx.post(url + "/auth/access_token", json={"api_key": str(uuid.uuid4())})
    assert missing.status_code == 404 and missing.json() == {"detail": "Project not found"}
    for headers, detail in (({}, "Missing or invalid Authorization header"),
                            (bearer("junk"), "Invalid Bearer token")):
        bad = httpx.get(url + "/project", headers=headers)
        assert bad.status_code == 400 and bad.json() == {"detail": detail}


def test_public_trace_read_round_trip(agentops_api: StandinApi, trace_store: StandinStore) -> None:
    token = get_token(agentops_api).json()["token"]
    trace_id = uuid.uuid4().hex
    request = make_export_request(trace_id=trace_id, spans=3, error_on=2,
                                  attributes={"agentops.tags": '["sandbox", "demo"]'})
    sent = httpx.post(trace_store.otlp_url, content=request.SerializeToString(),
                      headers={**bearer(token), "Content-Type": "application/x-protobuf"})
    assert sent.status_code == 200
    response = httpx.get(f"{agentops_api.url}/public/v1/traces/{trace_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["trace_id"] == trace_id and body["project_id"] == agentops_api.seed.project_id
    assert body["tags"] == ["sandbox", "demo"]
    spans = body["spans"]
    assert [s["span_name"] for s in spans] == ["span-0", "span-1", "span-2"]
    assert set(spans[0]) == {"span_id", "parent_span_id", "span_name", "span_kind", "start_time", "end_time",
                             "duration", "status_code", "status_message"}
    assert spans[0]["parent_span_id"] == "" and spans[1]["parent_span_id"] == spans[0]["span_id"]
    assert spans[0]["start_time"] == "2026-11-27T21:00:00.123456+00:00"
    assert spans[0]["end_time"] == "2026-11-27T21:00:00.125956+00:00" and spans[0]["duration"] == 2_500_000
    assert [s["status_code"] for s in spans] == ["UNSET", "UNSET", "ERROR"]
    assert spans[0]["span_kind"] == "Client"

    missing = httpx.get(f"{agentops_api.url}/public/v1/traces/{uuid.uuid4().hex}", headers=bearer(token))
    assert missing.status_code == 404 and missing.json() == {"detail": "Trace not found"}
    # A token of another project cannot read it.
    other = jwt_hs256.issue_token(agentops_api.jwt_secret, project_id=str(uuid.uuid4()),
                                  project_prem_status="pro", api_key=str(uuid.uuid4()))
    foreign = httpx.get(f"{agentops_api.url}/public/v1/traces/{trace_id}", headers=bearer(other))
    assert foreign.status_code == 404
    assert httpx.get(f"{agentops_api.url}/public/v1/traces/{trace_id}").status_code == 400


def test_runbook_artifacts_never_hold_the_key_the_api_logs(start_agentops_api, tmp_path, monkeypatch) -> None:
    """The stand-in logs the key as upstream does on a drifted schema; 00_setup's report must not carry it."""
    from runbook_lib.runner import run_notebooks

    api = start_agentops_api("early")
    monkeypatch.setenv("RB_STANDIN_AGENTOPS_API_KEY", api.seed.api_key)
    record = run_notebooks(["00_setup"], {"agentops_api_url": api.url, "timeout_s": 10,
                                          "agentops_api_key": "env:RB_STANDIN_AGENTOPS_API_KEY",
                                          "litellm_url": None, "otlp_endpoint": None},
                           out_dir=tmp_path / "reports")
    assert key_parameters(api.seed.api_key) in api.log_text()
    checks = {c["id"]: c for c in record.notebooks[0].checks}
    assert any(c["status"] == "fail" and "500" in c["summary"] for c in checks.values()), checks
    artifacts = [p for p in record.run_dir.rglob("*") if p.is_file()]
    assert artifacts and record.verdict != "leaked"
    for path in artifacts:
        assert api.seed.api_key not in path.read_text(encoding="utf-8", errors="replace"), path.name
