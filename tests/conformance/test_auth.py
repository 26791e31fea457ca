"""Auth path: the same requests to the stand-in and the real API, at every schema level, before and after
``10_migration`` repairs the database (through the notebook, as an operator runs it)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from runbook_lib.runner import run_notebooks
from runbook_lib.sandbox import jwt_hs256
from tests.conformance.conftest import ApiPair
from tests.conformance.exchange import differences, send_both

pytestmark = [pytest.mark.upstream, pytest.mark.postgres, pytest.mark.sandbox]

Request = tuple[str, str, dict[str, Any]]
ACCESS = "/public/v1/auth/access_token"


def _claims(pair: ApiPair, prem_status: str = "pro") -> dict[str, str]:
    return {"project_id": pair.seed.project_id, "project_prem_status": prem_status, "api_key": pair.seed.api_key}


def _bearer(token: str, scheme: str = "Bearer") -> dict[str, Any]:
    return {"headers": {"Authorization": f"{scheme} {token}".strip()}}


#: name -> request built from the pair (method, path, httpx keyword arguments).
SCENARIOS: dict[str, Callable[[ApiPair], Request]] = {
    "token: valid key": lambda p: ("POST", "/v3/auth/token", {"json": {"api_key": p.seed.api_key}}),
    "token: key of another shape": lambda p: ("POST", "/v3/auth/token", {"json": {"api_key": "not-a-uuid"}}),
    "token: unknown key": lambda p: ("POST", "/v3/auth/token", {"json": {"api_key": str(uuid.uuid4())}}),
    "token: key in upper case": lambda p: ("POST", "/v3/auth/token", {"json": {"api_key": p.seed.api_key.upper()}}),
    "token: missing field": lambda p: ("POST", "/v3/auth/token", {"json": {}}),
    "token: number for the key": lambda p: ("POST", "/v3/auth/token", {"json": {"api_key": 12345}}),
    "token: body not JSON": lambda p: ("POST", "/v3/auth/token",
                                       {"content": b"api_key=x", "headers": {"Content-Type": "application/json"}}),
    "verify: valid token": lambda p: ("GET", "/v3/auth/token",
                                      _bearer(jwt_hs256.issue_token(p.jwt_secret, **_claims(p)))),
    "verify: no header": lambda p: ("GET", "/v3/auth/token", {}),
    "verify: scheme only": lambda p: ("GET", "/v3/auth/token", {"headers": {"Authorization": "Bearer"}}),
    "verify: basic scheme": lambda p: ("GET", "/v3/auth/token",
                                       _bearer(jwt_hs256.issue_token(p.jwt_secret, **_claims(p)), "Basic")),
    "verify: expired": lambda p: ("GET", "/v3/auth/token",
                                  _bearer(jwt_hs256.issue_token(p.jwt_secret, lifetime_s=-30, **_claims(p)))),
    "verify: other audience": lambda p: ("GET", "/v3/auth/token", _bearer(jwt.encode(
        {**_claims(p), "exp": int(time.time()) + 600, "aud": "other"}, p.jwt_secret, algorithm="HS256"))),
    "verify: other secret": lambda p: ("GET", "/v3/auth/token", _bearer(jwt_hs256.issue_token(
        "another-secret-of-enough-length-0123456789", **_claims(p)))),
    "verify: plan changed": lambda p: ("GET", "/v3/auth/token",
                                       _bearer(jwt_hs256.issue_token(p.jwt_secret, **_claims(p, "free")))),
    "verify: junk token": lambda p: ("GET", "/v3/auth/token", _bearer("a.b.c")),
    "access_token: valid key": lambda p: ("POST", ACCESS, {"json": {"api_key": p.seed.api_key}}),
    "access_token: empty key": lambda p: ("POST", ACCESS, {"json": {"api_key": ""}}),
    "access_token: key of another shape": lambda p: ("POST", ACCESS, {"json": {"api_key": "x"}}),
    "access_token: unknown key": lambda p: ("POST", ACCESS,
                                            {"json": {"api_key": str(uuid.uuid4())}}),
    "project: valid bearer": lambda p: ("GET", "/public/v1/project",
                                        _bearer(jwt_hs256.issue_token(p.jwt_secret, **_claims(p)))),
    "project: no header": lambda p: ("GET", "/public/v1/project", {}),
    "project: junk bearer": lambda p: ("GET", "/public/v1/project", _bearer("junk")),
    "health": lambda p: ("GET", "/health", {}),
}

LEVELS = ("early", "invites_fixed", "field_guide", "current")


def compare_all(pair: ApiPair) -> dict[str, list[str]]:
    """Every scenario sent to both APIs; the differences of those that differ."""
    found: dict[str, list[str]] = {}
    for name, build in SCENARIOS.items():
        method, path, kwargs = build(pair)
        standin, upstream = send_both(pair.standin, pair.upstream, method, path, **kwargs)
        diff = differences(standin, upstream)
        if diff:
            found[name] = diff
    return found


def _token_status(pair: ApiPair) -> tuple[int, int]:
    standin, upstream = send_both(pair.standin, pair.upstream, "POST", "/v3/auth/token",
                                  json={"api_key": pair.seed.api_key})
    return standin.status, upstream.status


@pytest.mark.parametrize("level", LEVELS)
def test_auth_answers_match_before_and_after_the_repair(api_pair: Callable[..., ApiPair], level: str,
                                                         tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    pair = api_pair(level)
    expected = (200, 200) if level == "current" else (500, 500)
    assert _token_status(pair) == expected
    assert compare_all(pair) == {}
    if level == "current":
        return
    monkeypatch.setenv("CONFORMANCE_DSN", pair.dsn)
    monkeypatch.setenv("CONFORMANCE_API_KEY", pair.seed.api_key)
    record = run_notebooks(["10_migration"], {"database_url": "env:CONFORMANCE_DSN",
                                              "agentops_api_key": "env:CONFORMANCE_API_KEY", "apply": True},
                           out_dir=tmp_path, html=False)
    assert record.verdict == "passed", [c for c in record.notebooks[0].checks if c["status"] in ("fail", "error")]
    assert _token_status(pair) == (200, 200)
    assert compare_all(pair) == {}


def _settled_counts(pair: ApiPair, key: str) -> tuple[int, int]:
    """How often each log holds ``key``, once both stopped growing (uvicorn writes its traceback after the
    answer has been sent)."""
    last, stable_since = (-1, -1), time.monotonic()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = (pair.standin_log_text().count(key), pair.upstream_log_text().count(key))
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since > 1.0:
            break
        time.sleep(0.1)
    return last


def test_drifted_schema_logs_the_key_on_both_sides(api_pair: Callable[..., ApiPair]) -> None:
    """Upstream logs the project key on every failed lookup; the stand-in does the same, so the runbooks'
    advice about that log (rotate the key) can be tested without the real API."""
    pair = api_pair("early")
    key = pair.seed.api_key
    before = _settled_counts(pair, key)
    send_both(pair.standin, pair.upstream, "POST", "/v3/auth/token", json={"api_key": key})
    after_token = _settled_counts(pair, key)
    send_both(pair.standin, pair.upstream, "POST", ACCESS, json={"api_key": key})
    after_access = _settled_counts(pair, key)
    token = (after_token[0] - before[0], after_token[1] - before[1])
    access = (after_access[0] - after_token[0], after_access[1] - after_token[1])
    assert token[1] >= 1 and access[1] >= 2, "upstream no longer logs the key: revisit the rotate-key advice"
    assert token[0] == token[1] and access[0] == access[1]
