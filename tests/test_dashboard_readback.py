"""Reading a trace back the way the dashboard does (the AgentOps API stand-in over a stand-in store).

A trace whose model nobody prices shows cost 0 and the checks name the links; a dated response model shows a
cost in the detail view but not in the trace list until the store is repaired; the public route agrees with
the detail route; session cookie and bearer stay out of every check.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from runbook_lib.checks import Status
from runbook_lib.errors import ServiceError
from runbook_lib.traces import prices, readiness, store_repair
from runbook_lib.traces.dashboard_views import open_dashboard_session
from runbook_lib.traces.store import ClickHouseHttpStore
from runbook_lib.traces.synthetic import insert_traces
from runbook_lib.verification import dashboard_readback as rb
from tests.plugins.traces import span_rows_table
from tests.test_store_repair import _checkout

pytestmark = [pytest.mark.postgres, pytest.mark.sandbox]

T0 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=1)


def _trace(trace_id: str, project: str, model: str, response: str = "", **cost: str) -> list[dict]:
    llm = {"gen_ai.request.model": model, "gen_ai.usage.prompt_tokens": "1200",
           "gen_ai.usage.completion_tokens": "300", **{f"gen_ai.usage.{k}": v for k, v in cost.items()}}
    if response:
        llm["gen_ai.response.model"] = response
    return [{"ts": T0, "trace": trace_id, "span": f"{trace_id[:12]}root", "project": project, "status": "Ok",
             "attrs": {"agentops.span.kind": "session"}},
            {"ts": T0 + dt.timedelta(seconds=1), "trace": trace_id, "span": f"{trace_id[:12]}llm",
             "parent": f"{trace_id[:12]}root", "project": project, "status": "Ok", "attrs": llm}]


@pytest.fixture(scope="module")
def setup(start_trace_store, start_agentops_api, standin_jwt_secret, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("readback")
    store = start_trace_store()
    api = start_agentops_api("current", trace_store=store)
    pw = tmp / "store_pw"
    pw.write_text(store.password)
    pw.chmod(0o600)
    client = ClickHouseHttpStore(store.query_url, store.user, f"file:{pw}")
    pid = str(api.seed.project_id)
    insert_traces(client, span_rows_table(_trace("a" * 32, pid, "acme-llm-7b")
                                          + _trace("b" * 32, pid, "gpt-4o-mini", "gpt-4o-mini-2024-07-18")))
    session = open_dashboard_session(api.url, jwt_secret=f"file:{standin_jwt_secret[1]}", user_id=api.seed.user_id)
    key = tmp / "api_key"
    key.write_text(str(api.seed.api_key))
    key.chmod(0o600)
    bearer = rb.public_bearer(api.url, f"file:{key}")
    yield {"api": api, "store": client, "session": session, "bearer": bearer, "tmp": tmp}
    client.close()


def _text(checks) -> str:
    return json.dumps([c.to_dict() for c in checks]) + "".join(c.summary + c.remedy + str(c.evidence) for c in checks)


def test_unpriced_model_shows_cost_zero_and_names_every_link(setup):
    back = rb.read_back_trace(setup["api"].url, "a" * 32, session=setup["session"])
    assert (back.found, back.route, back.model) == (True, "v4 detail", "acme-llm-7b")
    assert (back.prompt_tokens, back.completion_tokens, back.total_cost) == (1200, 300, 0)
    found = readiness.inspect_store(setup["store"], days=1)
    checks = {c.id: c for c in rb.readback_checks(back, store_readiness=found, price_book=prices.price_book())}
    assert checks["dashboard.model"].status is Status.PASS and checks["dashboard.tokens"].status is Status.PASS
    cost = checks["dashboard.cost"]
    assert cost.status is Status.FAIL
    links = " | ".join(cost.evidence["links"])
    assert "no cost attributes: 1 of 1 LLM span(s)" in links
    assert "no price for the response model 'acme-llm-7b'" in links
    assert "store objects missing: otel_2.model_costs_source" in links
    assert checks["dashboard.list_cost"].status is Status.FAIL


def test_dated_model_priced_by_the_api_but_not_the_store_until_repaired(setup):
    back = rb.read_back_trace(setup["api"].url, "b" * 32, session=setup["session"])
    assert back.model == "gpt-4o-mini-2024-07-18" and back.total_cost > 0
    result = store_repair.repair_store(setup["store"], _checkout(setup["tmp"] / "agentops"), apply=True, days=1)
    assert result.changed
    # the repaired store has the objects and a row for the dated model; acme-llm-7b stays unpriced
    after = readiness.inspect_store(setup["store"], days=1)
    checks = {c.id: c for c in rb.readback_checks(back, store_readiness=after)}
    assert [c.status for c in checks.values()] == [Status.PASS] * 4, checks

    # before the repair the same trace warned: simulate that state with the readiness of a store lacking the row
    stale = readiness.StoreReadiness(after.database, True, True, [], after.present, [], "LOADED", "", {},
                                     [readiness.ModelCoverage("gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18",
                                                              1, 1200, 300, 1, False)], after.window)
    warn = {c.id: c for c in rb.readback_checks(back, store_readiness=stale)}["dashboard.list_cost"]
    assert warn.status is Status.WARN and "no price row for gpt-4o-mini-2024-07-18" in warn.summary


def test_public_route_agrees_with_the_detail_route(setup):
    detail = rb.read_back_trace(setup["api"].url, "b" * 32, session=setup["session"])
    public = rb.read_back_trace(setup["api"].url, "b" * 32, bearer=setup["bearer"])
    assert public.route == "public"
    assert (public.model, public.prompt_tokens, public.completion_tokens, public.total_cost) == (
        detail.model, detail.prompt_tokens, detail.completion_tokens, detail.total_cost)
    text = _text(rb.readback_checks(public)) + repr(public)
    assert setup["bearer"] not in text and setup["session"].cookie not in text


def test_missing_trace_and_refused_credentials(setup, monkeypatch):
    missing = rb.read_back_trace(setup["api"].url, "f" * 32, session=setup["session"])
    assert not missing.found
    assert rb.readback_checks(missing)[0].status is Status.FAIL
    with pytest.raises(ServiceError) as err:
        rb.read_back_trace(setup["api"].url, "b" * 32, bearer="planted-bearer-" + "z" * 30)
    assert "planted-bearer" not in str(err.value)
    monkeypatch.setenv("PLANTED_KEY", "planted-api-key-" + "k" * 20)
    with pytest.raises(ServiceError) as err:
        rb.public_bearer(setup["api"].url, "env:PLANTED_KEY")
    assert "planted-api-key" not in str(err.value)


def test_nested_and_flat_attributes_read_the_same():
    nested = {"gen_ai": {"request": {"model": "m"}, "usage": {"prompt_tokens": "5", "total_cost": "0.1"}}}
    flat = {"gen_ai.request.model": "m", "gen_ai.usage.prompt_tokens": "5", "gen_ai.usage.total_cost": "0.1"}
    assert rb._span("s", nested) == rb._span("s", flat)
    assert rb._span("s", {"other": 1}) is None


def test_no_way_to_read_is_refused(tmp_path: Path):
    with pytest.raises(ServiceError, match="no way to read"):
        rb.read_back_trace("http://127.0.0.1:9", "t")


def test_a_user_price_makes_the_trace_list_show_a_cost_while_the_detail_view_stays_zero(setup):
    from runbook_lib.traces.dashboard_views import trace_list_cost

    store, trace = setup["store"], "a" * 32
    assert trace_list_cost(store, trace) == 0
    back = rb.read_back_trace(setup["api"].url, trace, session=setup["session"])
    failed = {c.id: c for c in rb.readback_checks(back, list_cost=trace_list_cost(store, trace))}["dashboard.cost"]
    assert failed.status is Status.FAIL

    store_repair.repair_store(store, _checkout(setup["tmp"] / "agentops-user"), apply=True, days=1,
                              user_prices={"acme-llm-7b": (0.5, 0.25)})
    # 1.2 * 0.5 + 0.3 * 0.25 = 0.675, as a Float64 that toDecimal64(x, 9) truncates (upstream's query does too)
    assert str(trace_list_cost(store, trace)) == "0.674999999"
    section = rb.readback_section(setup["api"].url, trace, session=setup["session"], store=store)
    checks = {c.id: c for c in section.checks}
    assert checks["dashboard.cost"].status is Status.WARN
    assert "the trace list shows USD 0.6750000" in checks["dashboard.cost"].summary
    assert checks["dashboard.list_cost"].status is Status.PASS
    (table,) = section.tables
    assert list(table.frame["request model"]) == ["acme-llm-7b"]


def test_readback_section_skips_and_uses_the_public_route(setup, tmp_path):
    assert rb.readback_section(None, "t").checks[0].status is Status.SKIP
    assert rb.readback_section(setup["api"].url, None).checks[0].status is Status.SKIP
    key = tmp_path / "key"
    key.write_text(str(setup["api"].seed.api_key))
    key.chmod(0o600)
    section = rb.readback_section(setup["api"].url, "b" * 32, api_key=f"file:{key}", store=setup["store"])
    assert {c.id: c.status for c in section.checks}["dashboard.cost"] is Status.PASS
    assert "public" in section.tables[0].title
    wrong = rb.readback_section(setup["api"].url, "b" * 32, api_key="env:NO_SUCH_VARIABLE_SET")
    assert wrong.checks[0].status is Status.FAIL


def test_a_refused_session_names_no_secret_and_no_token(setup, monkeypatch):
    planted = "planted-wrong-jwt-secret-" + "w" * 20
    monkeypatch.setenv("PLANTED_WRONG_JWT", planted)
    with pytest.raises(ServiceError) as err:
        open_dashboard_session(setup["api"].url, jwt_secret="env:PLANTED_WRONG_JWT",
                               user_id=setup["api"].seed.user_id)
    text = str(err.value) + repr(err.value) + str(err.value.hint)
    assert err.value.status_code in (401, 403) or "401" in text or "403" in text
    assert planted not in text and "eyJ" not in text  # no secret, no minted token
    monkeypatch.setenv("PLANTED_WRONG_PW", "planted-password-" + "q" * 12)
    with pytest.raises(ServiceError) as err:
        open_dashboard_session(setup["api"].url, email="nobody@example.test", password="env:PLANTED_WRONG_PW")
    assert "planted-password" not in str(err.value)
