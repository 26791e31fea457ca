"""The stand-in's dashboard routes: session cookie, /v4, /public/v1 spans and metrics, /opsboard/projects.

Expected figures are computed by hand from the rows below and the LiteLLM 1.108.7 prices the store
is seeded with (asserted first, so a price change fails loudly rather than silently).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import httpx
import jwt
import psycopg
import pytest

from runbook_lib.clients.dashboard_session import SESSION_COOKIE, mint_access_token, session_cookie
from runbook_lib.sandbox.agentops_api.span_views import FREEPLAN_SPAN_HIDDEN
from runbook_lib.traces.dashboard_objects import price_rows
from tests.plugins.agentops_standin import StandinApi, StandinStore, insert_spans, session_headers, span_row

pytestmark = [pytest.mark.postgres, pytest.mark.sandbox]

DAY_NS = 1_768_478_400 * 1_000_000_000  # 2026-01-15T12:00:00Z
MS = 1_000_000

#: name -> (span attributes, duration ns): one single-span trace each, all status Ok.
COST_TRACES: dict[str, tuple[dict[str, str], int]] = {
    "total_only": ({"gen_ai.usage.total_cost": "0.5", "gen_ai.usage.prompt_tokens": "1000",
                    "gen_ai.usage.completion_tokens": "500", "gen_ai.request.model": "gpt-4o-mini",
                    "agentops.tags": '["a"]'}, 1 * MS),
    "prompt_completion_only": ({"gen_ai.usage.prompt_cost": "0.01", "gen_ai.usage.completion_cost": "0.02",
                                "gen_ai.usage.prompt_tokens": "100", "gen_ai.usage.completion_tokens": "100",
                                "gen_ai.request.model": "gpt-4o"}, 2 * MS),
    "both": ({"gen_ai.usage.total_cost": "0.7", "gen_ai.usage.prompt_cost": "0.1",
              "gen_ai.usage.completion_cost": "0.2", "gen_ai.usage.prompt_tokens": "10",
              "gen_ai.usage.completion_tokens": "10", "gen_ai.request.model": "gpt-4o"}, 3 * MS),
    "neither": ({"gen_ai.usage.prompt_tokens": "2000", "gen_ai.usage.completion_tokens": "1000",
                 "gen_ai.request.model": "gpt-4o-mini"}, 4 * MS),
    "dated_model": ({"gen_ai.usage.prompt_tokens": "1000", "gen_ai.usage.completion_tokens": "1000",
                     "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024-07-18"},
                    5 * MS),
}
#: Trace list: stored total_cost, else the cost functions' price of the (response, else request) model.
LIST_TOTAL_COST = {"total_only": 0.5, "prompt_completion_only": 0.00125, "both": 0.7, "neither": 0.0009,
                   "dated_model": 0.0}
#: Project metrics: stored prompt/completion cost (each, else the cost functions' price), never total_cost.
METRICS_COST = {"total_only": 0.00045, "prompt_completion_only": 0.03, "both": 0.3, "neither": 0.0009,
                "dated_model": 0.0}


def post_session(api: StandinApi, body: str, content_type: str = "application/x-www-form-urlencoded"
                 ) -> httpx.Response:
    return httpx.post(api.url + "/auth/session", content=body, headers={"Content-Type": content_type})


@pytest.fixture(scope="module")
def api(start_agentops_api: Callable[..., StandinApi], dashboard_store: StandinStore) -> StandinApi:
    return start_agentops_api("current", trace_store=dashboard_store)


@pytest.fixture(scope="module")
def other_project_id(api: StandinApi) -> str:
    with psycopg.connect(api.dsn) as conn:
        return str(conn.execute("SELECT id FROM public.projects WHERE org_id = %s",
                                (api.seed.other_org_id,)).fetchone()[0])


@pytest.fixture(scope="module")
def cost_traces(api: StandinApi, dashboard_store: StandinStore) -> dict[str, str]:
    """The cost trace set in the seed's second project: {name: trace id}."""
    ids = {name: uuid.uuid4().hex for name in COST_TRACES}
    insert_spans(dashboard_store, [
        span_row(api.seed.second_project_id, ids[name], uuid.uuid4().hex[:16], start_ns=DAY_NS + i * 10**9,
                 name=f"llm.{name}", duration_ns=duration, attributes=attrs)
        for i, (name, (attrs, duration)) in enumerate(COST_TRACES.items())])
    return ids


@pytest.fixture(scope="module")
def owner(api: StandinApi) -> dict[str, str]:
    return session_headers(api, api.seed.user_id)


@pytest.fixture(scope="module")
def developer(api: StandinApi) -> dict[str, str]:
    """A member of the seed's org only (not of the other org)."""
    return session_headers(api, api.seed.member_user_id)


@pytest.fixture(scope="module")
def bearer(api: StandinApi) -> dict[str, str]:
    token = httpx.post(api.url + "/public/v1/auth/access_token", json={"api_key": api.seed.api_key}).json()["bearer"]
    return {"Authorization": f"Bearer {token}"}


def test_seeded_prices_are_the_ones_the_figures_assume() -> None:
    prices = {r.model: (r.prompt_cost_per_1k, r.completion_cost_per_1k) for r in price_rows()}
    assert prices["gpt-4o-mini"] == (0.00015, 0.0006) and prices["gpt-4o"] == (0.0025, 0.01)
    assert "gpt-4o-mini-2024-07-18" not in prices


# --- POST /auth/session ------------------------------------------------------------------------------


def test_session_from_a_supabase_style_token(api: StandinApi) -> None:
    response = post_session(api, "access_token=" + mint_access_token(api.jwt_secret, api.seed.user_id))
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "User authenticated successfully."}
    header = response.headers["set-cookie"]
    assert header.startswith(f"{SESSION_COOKIE}=")
    for attribute in ("Domain=localhost", "HttpOnly", "Max-Age=2592000", "Path=/", "SameSite=lax"):
        assert attribute in header
    assert "Secure" not in header
    cookie = session_cookie(response)
    assert set(jwt.decode(cookie, options={"verify_signature": False})) == {"session_id"}
    projects = httpx.get(api.url + "/opsboard/projects", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    assert projects.status_code == 200


@pytest.mark.parametrize(("case", "status", "body"), [
    ("wrong secret", 401, {"detail": "Failed to decode access token"}),
    ("expired beyond the 10 s leeway", 401, {"detail": "Failed to decode access token"}),
    ("other audience", 401, {"detail": "Failed to decode access token"}),
    ("no email claim", 401, {"detail": "Failed to decode access token"}),
    ("sub not a UUID", 500, {"error": "Internal Server Error"}),
    ("expired within the leeway", 200, {"success": True, "message": "User authenticated successfully."}),
])
def test_session_refusals(api: StandinApi, case: str, status: int, body: dict) -> None:
    secret, user = api.jwt_secret, api.seed.user_id
    token = {
        "wrong secret": lambda: mint_access_token("another-secret-" + "x" * 32, user),
        "expired beyond the 10 s leeway": lambda: mint_access_token(secret, user, lifetime_s=-60),
        "other audience": lambda: mint_access_token(secret, user, aud="anon"),
        "no email claim": lambda: jwt.encode({k: v for k, v in jwt.decode(
            mint_access_token(secret, user), secret, algorithms=["HS256"], audience="authenticated").items()
            if k != "email"}, secret, algorithm="HS256"),
        "sub not a UUID": lambda: mint_access_token(secret, "not-a-uuid"),
        "expired within the leeway": lambda: mint_access_token(secret, user, lifetime_s=-3),
    }[case]()
    response = post_session(api, f"access_token={token}")
    assert (response.status_code, response.json()) == (status, body), case
    assert (session_cookie(response) is not None) == (status == 200)


def test_session_needs_the_form_field(api: StandinApi) -> None:
    token = mint_access_token(api.jwt_secret, api.seed.user_id)
    for response in (post_session(api, ""), post_session(api, f'{{"access_token": "{token}"}}', "application/json")):
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid parameters passed to callback URL."}


def test_unknown_user_gets_a_session_but_no_projects(api: StandinApi) -> None:
    stranger = session_headers(api, str(uuid.uuid4()))
    assert httpx.get(api.url + "/opsboard/projects", headers=stranger).json() == []
    response = httpx.get(f"{api.url}/v4/traces/list/{api.seed.project_id}", headers=stranger)
    assert response.status_code == 404 and response.json() == {"detail": "Project not found"}


# --- the cookie check --------------------------------------------------------------------------------


def protected_paths(api: StandinApi) -> list[str]:
    pid = api.seed.project_id
    return ["/opsboard/projects", f"/v4/traces/list/{pid}", f"/v4/meterics/project/{pid}",
            f"/v4/traces/detail/{uuid.uuid4().hex}"]


@pytest.mark.parametrize(("cookie", "detail"), [
    (None, "User is not authenticated."),
    ("garbage", "Could not decode internal session JWT."),
    (jwt.encode({"session_id": str(uuid.uuid4())}, "not-the-cookie-secret-" + "y" * 32, algorithm="HS256"),
     "Could not decode internal session JWT."),
])
def test_protected_routes_answer_401(api: StandinApi, cookie: str | None, detail: str) -> None:
    headers = {} if cookie is None else {"Cookie": f"{SESSION_COOKIE}={cookie}"}
    for path in protected_paths(api):
        response = httpx.get(api.url + path, headers=headers)
        assert response.status_code == 401 and response.json() == {"detail": detail}, path


# --- /opsboard/projects ------------------------------------------------------------------------------


def test_projects_of_every_org_the_user_belongs_to(api: StandinApi, owner: dict, developer: dict,
                                                   other_project_id: str, cost_traces: dict) -> None:
    mine = httpx.get(api.url + "/opsboard/projects", headers=owner).json()
    by_id = {p["id"]: p for p in mine}
    assert set(by_id) == {api.seed.project_id, api.seed.second_project_id, other_project_id}
    assert list(mine[0]) == ["id", "name", "api_key", "org", "span_count", "trace_count"]
    assert list(mine[0]["org"]) == ["id", "name", "prem_status", "current_user_role"]
    assert by_id[api.seed.project_id]["api_key"] == api.seed.api_key
    assert by_id[api.seed.project_id]["org"]["current_user_role"] == "owner"
    assert by_id[other_project_id]["org"]["id"] == api.seed.other_org_id
    second = by_id[api.seed.second_project_id]
    assert (second["span_count"], second["trace_count"]) == (5, 5)
    theirs = httpx.get(api.url + "/opsboard/projects", headers=developer).json()
    assert {p["id"] for p in theirs} == {api.seed.project_id, api.seed.second_project_id}
    assert {p["org"]["current_user_role"] for p in theirs} == {"developer"}


# --- /v4 membership ----------------------------------------------------------------------------------


def test_another_orgs_project_is_404(api: StandinApi, developer: dict, other_project_id: str,
                                     dashboard_store: StandinStore) -> None:
    trace_id = uuid.uuid4().hex
    insert_spans(dashboard_store, [span_row(other_project_id, trace_id, "a1", start_ns=DAY_NS)])
    for path in (f"/v4/traces/list/{other_project_id}", f"/v4/meterics/project/{other_project_id}",
                 f"/v4/traces/detail/{trace_id}"):
        response = httpx.get(api.url + path, headers=developer)
        assert response.status_code == 404 and response.json() == {"detail": "Project not found"}, path
    missing = httpx.get(f"{api.url}/v4/meterics/project/{uuid.uuid4()}", headers=developer)
    assert missing.status_code == 404
    malformed = httpx.get(f"{api.url}/v4/traces/list/not-a-uuid", headers=developer)
    assert malformed.status_code == 500 and malformed.json() == {"error": "Internal Server Error"}
    assert "cache-control" not in malformed.headers  # upstream's exception middleware sits outside its cache one
    absent = httpx.get(f"{api.url}/v4/traces/detail/{uuid.uuid4().hex}", headers=developer)
    assert absent.status_code == 404 and absent.json() == {"detail": "Trace not found."}


# --- the two cost views --------------------------------------------------------------------------------


def test_project_metrics_sum_prompt_and_completion_cost(api: StandinApi, owner: dict, cost_traces: dict) -> None:
    response = httpx.get(f"{api.url}/v4/meterics/project/{api.seed.second_project_id}", headers=owner)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert response.headers["cache-control"] == "no-store, no-cache, must-revalidate, max-age=0"
    body = response.json()
    assert list(body) == ["project_id", "trace_count", "span_count", "token_metrics", "duration_metrics",
                          "success_datetime", "fail_datetime", "indeterminate_datetime", "spans_per_trace",
                          "trace_durations", "trace_cost_dates", "start_time", "end_time", "freeplan_truncated"]
    assert body["trace_count"] == 5
    assert body["span_count"] == {"total": 5, "success": 5, "fail": 0, "unknown": 0, "indeterminate": 0}
    tm = body["token_metrics"]
    assert tm["total_cost"] == "0.33135" and tm["average_cost_per_session"] == "0.06627"
    assert abs(sum(METRICS_COST.values()) - 0.33135) < 1e-12
    assert (tm["prompt_tokens"], tm["completion_tokens"]) == (4110, 2610)
    assert tm["total_tokens"] == {"all": 6720, "success": 6720, "fail": 0}
    assert tm["avg_tokens"] == {"all": 1344.0, "success": 1344.0, "fail": 0.0}
    assert body["duration_metrics"] == {"min_duration_ns": MS, "max_duration_ns": 5 * MS, "avg_duration_ns": 3 * MS,
                                        "total_duration_ns": 15 * MS, "trace_durations": [MS * i for i in range(1, 6)]}
    assert body["trace_durations"] == [MS * i for i in range(1, 6)]
    assert body["spans_per_trace"] == {"1": 5}
    assert body["trace_cost_dates"] == {"2026-01-15": 0.33135}
    assert body["success_datetime"] == [f"2026-01-15T12:00:0{i}" for i in range(4, -1, -1)]
    assert (body["start_time"], body["end_time"]) == ("2026-01-15T12:00:00", "2026-01-15T12:00:04")
    assert body["freeplan_truncated"] is False


def test_trace_list_sums_total_cost(api: StandinApi, owner: dict, cost_traces: dict) -> None:
    response = httpx.get(f"{api.url}/v4/traces/list/{api.seed.second_project_id}?limit=10", headers=owner)
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["traces", "metrics", "total", "limit", "offset", "freeplan_truncated"]
    assert (body["total"], body["limit"], body["offset"]) == (5, 10, 0)
    names = {v: k for k, v in cost_traces.items()}
    items = body["traces"]
    assert [names[t["trace_id"]] for t in items] == list(reversed(COST_TRACES))  # start_time DESC
    assert {names[t["trace_id"]]: t["total_cost"] for t in items} == pytest.approx(LIST_TOTAL_COST, abs=1e-12)
    first = items[-1]
    assert list(first) == ["freeplan_truncated", "trace_id", "root_service_name", "root_span_name", "start_time",
                           "end_time", "duration", "span_count", "error_count", "tags", "total_cost"]
    assert (first["root_span_name"], first["tags"], first["duration"]) == ("llm.total_only", ["a"], 0)
    assert (first["start_time"], first["end_time"]) == ("2026-01-15T12:00:00+00:00", "2026-01-15T12:00:00+00:00")
    m = body["metrics"]
    # Each trace is one row: span_count counts traces; costs: total stored-or-price, prompt/completion by price.
    assert (m["span_count"], m["trace_count"], m["success_count"]) == (5, 5, 5)
    assert m["total_cost"] == "1.2021500" and m["average_cost_per_trace"] == "0.2404300"
    assert (m["prompt_cost"], m["completion_cost"]) == ("0.0008750", "0.0026000")
    assert m["total_tokens"] == 6720


def test_trace_list_paging_sorting_and_search(api: StandinApi, owner: dict, cost_traces: dict) -> None:
    url = f"{api.url}/v4/traces/list/{api.seed.second_project_id}"
    by_cost = httpx.get(url + "?order_by=total_cost&sort_order=ASC&limit=2&offset=1", headers=owner).json()
    names = {v: k for k, v in cost_traces.items()}
    assert [names[t["trace_id"]] for t in by_cost["traces"]] == ["neither", "prompt_completion_only"]
    assert by_cost["total"] == 5
    found = httpx.get(url + "?query=DATED", headers=owner).json()
    assert [names[t["trace_id"]] for t in found["traces"]] == ["dated_model"] and found["total"] == 1
    for bad in ("?limit=0", "?limit=101", "?offset=-1", "?start_time=yesterday"):
        assert httpx.get(url + bad, headers=owner).status_code == 422, bad
    assert httpx.get(url + "?order_by=1;DROP", headers=owner).status_code == 500
    window = httpx.get(url + "?start_time=2026-01-15T12:00:01&end_time=2026-01-15T12:00:03", headers=owner).json()
    assert sorted(names[t["trace_id"]] for t in window["traces"]) == ["both", "neither", "prompt_completion_only"]


def test_project_metrics_are_cached_like_upstream(api: StandinApi, owner: dict, cost_traces: dict,
                                                  dashboard_store: StandinStore) -> None:
    url = f"{api.url}/v4/meterics/project/{api.seed.project_id}?start_time=2026-02-01T00:00:00"
    before = httpx.get(url, headers=owner).json()
    later = DAY_NS + 30 * 86400 * 10**9
    insert_spans(dashboard_store, [span_row(api.seed.project_id, uuid.uuid4().hex, "z1", start_ns=later)])
    assert httpx.get(url, headers=owner).json() == before  # 5-minute in-process cache
    fresh = httpx.get(url.replace("2026-02-01T00:00:00", "2026-02-01T00:00:01"), headers=owner).json()
    assert fresh["trace_count"] == before["trace_count"] + 1


# --- detail and public views ---------------------------------------------------------------------------


def test_trace_detail_and_public_metrics(api: StandinApi, owner: dict, bearer: dict, developer: dict,
                                         cost_traces: dict, dashboard_store: StandinStore) -> None:
    # The cost traces live in the second project; the bearer is the first project's: 404 on public routes.
    trace_id = cost_traces["total_only"]
    assert httpx.get(f"{api.url}/public/v1/traces/{trace_id}/metrics", headers=bearer).status_code == 404
    detail = httpx.get(f"{api.url}/v4/traces/detail/{trace_id}", headers=developer).json()
    assert list(detail) == ["freeplan_truncated", "project_id", "trace_id", "tags", "metrics", "spans"]
    assert detail["metrics"]["total_cost"] == "0.5000000"
    assert (detail["metrics"]["prompt_cost"], detail["metrics"]["completion_cost"]) == ("0.0001500", "0.0003000")
    span = detail["spans"][0]
    assert span["span_type"] == "request" and span["metrics"]["total_tokens"] == 1500
    assert span["span_attributes"]["gen_ai"]["usage"]["total_cost"] == "0.5"

    # A trace of the bearer's project, to read publicly.
    pid, tid = api.seed.project_id, uuid.uuid4().hex
    insert_spans(dashboard_store, [
        span_row(pid, tid, "root0001", start_ns=DAY_NS, name="agent.session", duration_ns=9 * MS,
                 attributes={"agent.name": "a", "agentops.tags": '["x"]'}),
        span_row(pid, tid, "llm00001", start_ns=DAY_NS + MS, parent="root0001", name="llm", status="Error",
                 attributes={"gen_ai.usage.prompt_cost": "0.01", "gen_ai.usage.completion_cost": "0.02",
                             "gen_ai.usage.prompt_tokens": "7", "gen_ai.prompt": "hi",
                             "gen_ai.completion.0.content": "yo"}),
    ])
    metrics = httpx.get(f"{api.url}/public/v1/traces/{tid}/metrics", headers=bearer).json()
    assert metrics == {"span_count": 2, "trace_count": 1, "success_count": 1, "fail_count": 1,
                       "indeterminate_count": 0, "prompt_tokens": 7, "completion_tokens": 0,
                       "cache_read_input_tokens": 0, "reasoning_tokens": 0, "total_tokens": 7,
                       "prompt_cost": "0.0100000", "completion_cost": "0.0200000",
                       "average_cost_per_trace": "0.0300000", "total_cost": "0.0300000"}
    span = httpx.get(f"{api.url}/public/v1/spans/llm00001", headers=bearer).json()
    assert list(span) == ["span_id", "parent_span_id", "span_name", "span_kind", "service_name", "start_time",
                          "end_time", "duration", "status_code", "status_message", "attributes",
                          "resource_attributes", "span_attributes"]
    assert span["status_code"] == "ERROR" and span["attributes"] == {}
    assert span["span_attributes"]["gen_ai"]["prompt"] == [{"content": "hi", "role": "user"}]
    assert span["span_attributes"]["gen_ai"]["completion"] == [{"content": "yo"}]
    span_metrics = httpx.get(f"{api.url}/public/v1/spans/llm00001/metrics", headers=bearer).json()
    assert span_metrics["fail_tokens"] == 7 and span_metrics["total_cost"] == "0.0300000"
    for path, detail_text in ((f"/public/v1/spans/{uuid.uuid4().hex[:16]}", "Span not found"),
                              (f"/public/v1/traces/{uuid.uuid4().hex}/metrics", "Trace not found")):
        response = httpx.get(api.url + path, headers=bearer)
        assert response.status_code == 404 and response.json() == {"detail": detail_text}
    for path in ("/public/v1/spans/llm00001", "/public/v1/spans/llm00001/metrics", f"/public/v1/traces/{tid}/metrics"):
        response = httpx.get(api.url + path)
        assert response.status_code == 400 and response.json() == {"detail": "Missing or invalid Authorization header"}
    root = httpx.get(f"{api.url}/v4/traces/detail/{tid}", headers=owner).json()["spans"][0]
    assert root["span_type"] == "agent" and root["metrics"] is None


def test_a_trace_stored_in_two_batches_comes_back_in_storage_order(api: StandinApi, bearer: dict,
                                                                   dashboard_store: StandinStore) -> None:
    """Child batch stored first, root (with the tags) second: spans are not sorted and tags are the first span's."""
    seen_child_first = False
    for attempt in range(4):
        tid, start = uuid.uuid4().hex, DAY_NS + (attempt + 10) * 3600 * 10**9
        insert_spans(dashboard_store, [span_row(api.seed.project_id, tid, "child001", start_ns=start + 5 * MS,
                                                parent="root0001", name="child")])
        insert_spans(dashboard_store, [span_row(api.seed.project_id, tid, "root0001", start_ns=start, name="root",
                                                attributes={"agentops.tags": '["prod"]'})])
        body = httpx.get(f"{api.url}/public/v1/traces/{tid}", headers=bearer).json()
        order = [s["span_name"] for s in body["spans"]]
        assert sorted(order) == ["child", "root"]
        assert body["tags"] == ([] if order[0] == "child" else ["prod"])
        seen_child_first |= order == ["child", "root"]
    assert seen_child_first, "the store never returned the later batch's span first"


# --- a store without the dashboard objects ------------------------------------------------------------


def test_bare_store_fails_list_and_metrics_like_upstream(start_agentops_api: Callable[..., StandinApi],
                                                         trace_store: StandinStore) -> None:
    bare = start_agentops_api("current", trace_store=trace_store)
    headers = session_headers(bare, bare.seed.user_id)
    for path in (f"/v4/traces/list/{bare.seed.project_id}", f"/v4/meterics/project/{bare.seed.project_id}"):
        response = httpx.get(bare.url + path, headers=headers)
        assert response.status_code == 500 and response.json() == {"error": "Internal Server Error"}, path
    assert re.search(r"calculate_(prompt|completion)_cost", bare.log_text())
    assert httpx.get(bare.url + "/opsboard/projects", headers=headers).status_code == 200


def test_free_plan_truncation(api: StandinApi, owner: dict, other_project_id: str,
                              dashboard_store: StandinStore) -> None:
    """The other org is on the free plan: metrics start 30 days back, traces older than 3 days (except the
    newest three) come back truncated, their spans' payload fields emptied and listed last."""
    now, day = time.time_ns(), 86400 * 10**9
    ages = {"fresh": 0.1, "today": 0.5, "yesterday": 1.0, "old": 4.0, "older": 5.0, "ancient": 40.0}
    ids = {name: uuid.uuid4().hex for name in ages}
    insert_spans(dashboard_store, [
        span_row(other_project_id, ids[name], f"free{i:04d}", start_ns=now - int(age * day), name=name,
                 attributes={"gen_ai.usage.prompt_tokens": "10", "agent.name": "x"})
        for i, (name, age) in enumerate(ages.items())])
    listed = httpx.get(f"{api.url}/v4/traces/list/{other_project_id}?limit=100", headers=owner).json()
    flags = {t["trace_id"]: t["freeplan_truncated"] for t in listed["traces"]}
    assert {name: flags[tid] for name, tid in ids.items()} == {
        "fresh": False, "today": False, "yesterday": False, "old": True, "older": True, "ancient": True}
    assert listed["freeplan_truncated"] is True
    metrics = httpx.get(f"{api.url}/v4/meterics/project/{other_project_id}", headers=owner).json()
    assert metrics["freeplan_truncated"] is True and metrics["trace_count"] == 5  # not the 40-day-old one
    detail = httpx.get(f"{api.url}/v4/traces/detail/{ids['old']}", headers=owner).json()
    span = detail["spans"][0]
    assert detail["freeplan_truncated"] is True and span["freeplan_truncated"] is True
    assert list(span)[-10:] == list(FREEPLAN_SPAN_HIDDEN)
    assert all(span[name] in ({}, []) for name in FREEPLAN_SPAN_HIDDEN) and span["span_type"] == "request"
    fresh = httpx.get(f"{api.url}/v4/traces/detail/{ids['fresh']}", headers=owner).json()["spans"][0]
    assert fresh["freeplan_truncated"] is False and fresh["span_attributes"]["agent"] == {"name": "x"}
