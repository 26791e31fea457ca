"""What the dashboard reads: ``/auth/session``, the ``/v4`` routes, the public trace and span routes and
``/opsboard/projects``, on one seeded trace store read by both APIs; a trace stored child-first in two
batches; a ``bare`` store without upstream's ClickHouse objects."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from tests.conformance.conftest import ApiPair
from tests.conformance.exchange import Answer, differences
from tests.plugins.agentops_standin import StandinStore, make_export_request

pytestmark = [pytest.mark.upstream, pytest.mark.postgres, pytest.mark.sandbox]

WINDOW = {"start_time": "2026-11-01T00:00:00+00:00", "end_time": "2026-12-31T00:00:00+00:00"}


def supabase_access_token(secret: str, user_id: str, email: str, *, lifetime_s: int = 600) -> str:
    """An access token as Supabase issues it for a signed-in user (HS256 with the project's JWT secret)."""
    now = int(time.time())
    claims = {"sub": user_id, "iat": now, "exp": now + lifetime_s, "aud": "authenticated", "email": email,
              "role": "authenticated", "app_metadata": {"provider": "email"}, "user_metadata": {},
              "session_id": str(uuid.uuid4())}
    return jwt.encode(claims, secret, algorithm="HS256")


def session_cookie(base: str, access_token: str) -> tuple[Answer, str]:
    """POST /auth/session as the dashboard does (form-encoded); the answer and the ``Cookie`` header value."""
    response = httpx.post(base + "/auth/session", content=f"access_token={access_token}".encode(),
                          headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=60)
    # The cookie is set for the API's domain without its port ("localhost"), which a client talking to
    # 127.0.0.1 would drop: take it from the header, as a browser on localhost would send it back.
    pairs = [header.split(";", 1)[0].strip() for header in response.headers.get_list("set-cookie")]
    return Answer.of(response), "; ".join(pairs)


@dataclass
class Dashboard:
    """A pair of APIs with a signed-in dashboard session on each and a public bearer on each."""

    pair: ApiPair
    cookies: tuple[str, str]
    member_cookies: tuple[str, str]
    bearers: tuple[str, str]

    def get(self, path: str, *, auth: str = "cookie", **kwargs: Any) -> tuple[Answer, Answer]:
        """GET from both; ``auth``: cookie (the org owner), member (a developer of one org only), bearer, none."""
        answers = []
        for i, base in enumerate((self.pair.standin, self.pair.upstream)):
            headers = {"cookie": {"Cookie": self.cookies[i]}, "member": {"Cookie": self.member_cookies[i]},
                       "bearer": {"Authorization": f"Bearer {self.bearers[i]}"}}.get(auth, {})
            answers.append(Answer.of(httpx.get(base + path, headers=headers, timeout=60, **kwargs)))
        return answers[0], answers[1]


def _insert(store: StandinStore, request: Any, project_id: str) -> None:
    """Send spans through the collector, authenticated as ``project_id`` (the collector stamps it)."""
    from runbook_lib.sandbox import jwt_hs256

    token = jwt_hs256.issue_token(store.jwt_secret, project_id=project_id, project_prem_status="pro",
                                  api_key=str(uuid.uuid4()))
    response = httpx.post(store.otlp_url, content=request.SerializeToString(),
                          headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"},
                          timeout=60)
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def dashboard(api_pair: Callable[..., ApiPair], conformance_store: StandinStore) -> Iterator[Dashboard]:
    pair = api_pair("current")
    seed_traces(conformance_store, pair.seed.project_id)
    owner = supabase_access_token(pair.jwt_secret, pair.seed.user_id, pair.seed.user_email)
    member = supabase_access_token(pair.jwt_secret, pair.seed.member_user_id, "developer@example.test")
    bases = (pair.standin, pair.upstream)
    bearers = tuple(httpx.post(base + "/public/v1/auth/access_token", json={"api_key": pair.seed.api_key},
                               timeout=60).json()["bearer"] for base in bases)
    yield Dashboard(pair, tuple(session_cookie(b, owner)[1] for b in bases),  # type: ignore[arg-type]
                    tuple(session_cookie(b, member)[1] for b in bases), bearers)  # type: ignore[arg-type]


def seed_traces(store: StandinStore, project_id: str, n_traces: int = 60) -> None:
    """Seeded synthetic history (several models, costs present and absent, dated response models)."""
    import os

    from runbook_lib.traces.store import ClickHouseHttpStore
    from runbook_lib.traces.synthetic import generate_table, insert_traces

    env = "CONFORMANCE_STORE_PASSWORD"
    os.environ[env] = store.password
    client = ClickHouseHttpStore(store.query_url, store.user, f"env:{env}")
    try:
        insert_traces(client, generate_table(n_traces, days=7, end="2026-12-01T00:00:00+00:00", seed=11,
                                             project_ids=[project_id]))
    finally:
        client.close()


def _trace_ids(store: StandinStore, project_id: str, n: int = 3) -> list[str]:
    text = store.query("SELECT TraceId FROM otel_2.otel_traces WHERE project_id = {p:String} "
                       f"GROUP BY TraceId ORDER BY count() DESC, TraceId LIMIT {n}", {"p": project_id})
    return text.split()


def _span_ids(store: StandinStore, trace_id: str) -> list[str]:
    return store.query("SELECT SpanId FROM otel_2.otel_traces WHERE TraceId = {t:String} ORDER BY SpanId",
                       {"t": trace_id}).split()


def _other_org_project(pair: ApiPair) -> str:
    """The seeded project of the org the member does not belong to."""
    import psycopg

    with psycopg.connect(pair.dsn) as conn:
        return str(conn.execute("SELECT id FROM public.projects WHERE org_id = %s",
                                (pair.seed.other_org_id,)).fetchone()[0])


def test_session_is_created_the_same_way(api_pair: Callable[..., ApiPair]) -> None:
    pair = api_pair("current")
    good = supabase_access_token(pair.jwt_secret, pair.seed.user_id, pair.seed.user_email)
    cases = {
        "valid": good,
        "other secret": supabase_access_token("not-the-secret-" + "x" * 30, pair.seed.user_id, pair.seed.user_email),
        "expired": supabase_access_token(pair.jwt_secret, pair.seed.user_id, pair.seed.user_email, lifetime_s=-60),
        "junk": "junk",
    }
    found = {}
    for name, token in cases.items():
        (standin, _), (upstream, _) = session_cookie(pair.standin, token), session_cookie(pair.upstream, token)
        if diff := differences(standin, upstream):
            found[name] = diff
    assert found == {}


def test_dashboard_routes_answer_alike(dashboard: Dashboard, conformance_store: StandinStore) -> None:
    pid = dashboard.pair.seed.project_id
    traces = _trace_ids(conformance_store, pid)
    spans = _span_ids(conformance_store, traces[0])
    routes: dict[str, tuple[str, str, dict[str, Any]]] = {
        "project metrics": (f"/v4/meterics/project/{pid}", "cookie", {"params": WINDOW}),
        "project metrics, no window": (f"/v4/meterics/project/{pid}", "cookie", {}),
        "trace list": (f"/v4/traces/list/{pid}", "cookie", {"params": WINDOW}),
        "trace list, page 2": (f"/v4/traces/list/{pid}", "cookie", {"params": {**WINDOW, "limit": 5, "offset": 5}}),
        "trace detail": (f"/v4/traces/detail/{traces[0]}", "cookie", {}),
        "trace list, no session": (f"/v4/traces/list/{pid}", "none", {"params": WINDOW}),
        "metrics, no session": (f"/v4/meterics/project/{pid}", "none", {}),
        "another org's project": (f"/v4/traces/list/{_other_org_project(dashboard.pair)}", "member", {}),
        "another org's metrics": (f"/v4/meterics/project/{_other_org_project(dashboard.pair)}", "member", {}),
        "member's own project": (f"/v4/traces/list/{pid}", "member", {"params": WINDOW}),
        "opsboard projects of a member": ("/opsboard/projects", "member", {}),
        "unknown project": (f"/v4/meterics/project/{uuid.uuid4()}", "cookie", {}),
        "opsboard projects": ("/opsboard/projects", "cookie", {}),
        "opsboard projects, no session": ("/opsboard/projects", "none", {}),
        "public trace": (f"/public/v1/traces/{traces[1]}", "bearer", {}),
        "public trace metrics": (f"/public/v1/traces/{traces[1]}/metrics", "bearer", {}),
        "public span": (f"/public/v1/spans/{spans[0]}", "bearer", {}),
        "public span metrics": (f"/public/v1/spans/{spans[0]}/metrics", "bearer", {}),
        "public unknown trace": (f"/public/v1/traces/{uuid.uuid4().hex}", "bearer", {}),
        "public unknown span": (f"/public/v1/spans/{uuid.uuid4().hex[:16]}", "bearer", {}),
    }
    found = {}
    for name, (path, auth, kwargs) in routes.items():
        standin, upstream = dashboard.get(path, auth=auth, **kwargs)
        expected = 401 if auth == "none" else (404 if "unknown" in name or "another org" in name else 200)
        assert upstream.status == expected, (name, upstream.status, upstream.body)
        if diff := differences(standin, upstream):
            found[name] = diff
    assert found == {}


def test_trace_stored_child_first_in_two_batches(dashboard: Dashboard, conformance_store: StandinStore) -> None:
    """Upstream reads spans in storage order (no ORDER BY) and takes tags from the first span it read: a
    trace stored child-first can come back child-first with ``tags: []``. Which order a read returns is
    the store's choice (parts read in parallel), so each side is held to the rule, and both to the same
    spans."""
    trace_id = uuid.uuid4().hex
    whole = make_export_request(trace_id=trace_id, spans=2, client_project_id=None,
                                attributes={"agentops.tags": '["conformance"]'})
    scope = whole.resource_spans[0].scope_spans[0]
    root, child = scope.spans[0], scope.spans[1]
    child.attributes.pop()  # the child carries no tags
    for span in (child, root):
        batch = make_export_request(trace_id=trace_id, spans=1, client_project_id=None)
        batch.resource_spans[0].scope_spans[0].spans[0].CopyFrom(span)
        _insert(conformance_store, batch, dashboard.pair.seed.project_id)
    standin, upstream = dashboard.get(f"/public/v1/traces/{trace_id}", auth="bearer")
    assert standin.status == upstream.status == 200
    for answer in (standin, upstream):
        first_is_child = answer.body["spans"][0]["parent_span_id"] != ""
        assert answer.body["tags"] == ([] if first_is_child else ["conformance"])
    by_id = [sorted(a.body["spans"], key=lambda s: s["span_id"]) for a in (standin, upstream)]
    assert by_id[0] == by_id[1]


def test_bare_store_breaks_the_dashboard_on_both(api_pair: Callable[..., ApiPair],
                                                 start_trace_store: Callable[..., StandinStore]) -> None:
    bare = start_trace_store()
    pair = api_pair("current", store=bare)
    token = supabase_access_token(pair.jwt_secret, pair.seed.user_id, pair.seed.user_email)
    cookies = (session_cookie(pair.standin, token)[1], session_cookie(pair.upstream, token)[1])
    for path in (f"/v4/traces/list/{pair.seed.project_id}", f"/v4/meterics/project/{pair.seed.project_id}"):
        answers = [Answer.of(httpx.get(base + path, headers={"Cookie": cookie}, params=WINDOW, timeout=60))
                   for base, cookie in zip((pair.standin, pair.upstream), cookies, strict=True)]
        assert answers[1].status == 500, (path, answers[1])
        assert differences(answers[0], answers[1]) == [], path


@pytest.mark.parametrize("level", ["early", "invites_fixed", "field_guide"])
def test_opsboard_projects_on_a_drifted_schema(api_pair: Callable[..., ApiPair], level: str) -> None:
    """Upstream's project list loads only the membership's role: on the field guide's hand fix (no
    ``user_orgs.is_paid``) it answers 200 where the auth lookup fails, and the stand-in must too."""
    pair = api_pair(level)
    token = supabase_access_token(pair.jwt_secret, pair.seed.user_id, pair.seed.user_email)
    answers = [Answer.of(httpx.get(base + "/opsboard/projects", headers={"Cookie": session_cookie(base, token)[1]},
                                   timeout=60)) for base in (pair.standin, pair.upstream)]
    assert differences(answers[0], answers[1]) == []
