"""Store readiness checks on real stand-in trace stores (chDB behind ClickHouse HTTP), pass and fail states.

Two store processes: ``bare`` (only otel_2.otel_traces) and ``current`` (the project's dashboard objects and
LiteLLM price rows), both loaded with the same hand-made spans. Fail states beyond ``bare`` (a dictionary that
cannot load, a drifted column) live in extra databases of the ``current`` store.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from runbook_lib.checks import Status
from runbook_lib.commands import repair_store_command
from runbook_lib.sandbox import stack
from runbook_lib.traces import dashboard_objects as dash
from runbook_lib.traces import readiness, schema
from runbook_lib.traces.store import ClickHouseHttpStore
from runbook_lib.traces.synthetic import insert_traces
from tests.plugins.traces import span_rows_table

T0 = dt.datetime(2025, 6, 1, 12, tzinfo=dt.timezone.utc)
WINDOW = {"start": dt.datetime(2025, 6, 1), "end": dt.datetime(2025, 6, 2)}


def _llm(model_req: str, model_resp: str = "", pt: int = 0, ct: int = 0, **cost: str) -> dict:
    attrs = {"gen_ai.request.model": model_req, "gen_ai.usage.prompt_tokens": str(pt),
             "gen_ai.usage.completion_tokens": str(ct)}
    if model_resp:
        attrs["gen_ai.response.model"] = model_resp
    attrs.update({f"gen_ai.usage.{k}": v for k, v in cost.items()})
    return attrs


#: (request model, response model, prompt tokens, completion tokens, cost attributes)
SPANS = [
    _llm("gpt-4o-mini", "gpt-4o-mini-2024-07-18", 100, 20),
    _llm("gpt-4o-mini", "gpt-4o-mini-2024-07-18", 300, 40),
    _llm("gpt-4o-mini", "gpt-4o-mini-2024-07-18", 50, 5, total_cost="0.001"),
    _llm("gpt-4o", "", 1000, 100),
    _llm("GPT-4o", "", 10, 1),
    _llm("acme-llm-7b", "", 7, 3, prompt_cost="0.1", completion_cost="0.2"),
    _llm("Sonar", "", 5, 5),
    {"note": "no model at all"},
]
OUTSIDE = _llm("outside-window-model", "", 1, 1)


def _rows() -> list[dict]:
    rows = [{"ts": T0 + dt.timedelta(minutes=i), "trace": f"t{i % 3}", "span": f"s{i:02d}", "project": "p1",
             "attrs": attrs} for i, attrs in enumerate(SPANS)]
    rows.append({"ts": T0 - dt.timedelta(days=3), "trace": "old", "span": "old", "project": "p1", "attrs": OUTSIDE})
    return rows


def _state(store, tmp: Path) -> dict:
    pw = tmp / f"state-pw-{store.pid}"
    pw.write_text(store.password)
    pw.chmod(0o600)
    return {"services": {"trace_store": {"url": store.query_url, "user": store.user}},
            "secret_files": {"store_password": str(pw)}}


@pytest.fixture(scope="module")
def stores(start_trace_store, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("readiness")
    out = {}
    for level in ("bare", "current"):
        store = start_trace_store()
        stack.provision_store(_state(store, tmp), level)
        client = store.client()
        insert_traces(client, span_rows_table(_rows()))
        out[level] = client
    yield out
    for client in out.values():
        client.close()


def _by_id(checks) -> dict:
    return {c.id: c for c in checks}


def test_bare_store_fails_every_dashboard_object_and_prices_nothing(stores):
    found = readiness.inspect_store(stores["bare"], **WINDOW)
    checks = _by_id(found.checks)
    assert checks["store.database"].status is Status.PASS
    assert checks["store.otel_traces"].status is Status.PASS
    for obj in dash.OBJECTS:
        check = checks[f"store.{obj.kind}.{obj.name}"]
        assert check.status is Status.FAIL, check
        assert repair_store_command() in check.remedy  # the command to paste
    assert set(found.missing) == {o.qualified(schema.DATABASE) for o in dash.OBJECTS}
    # without the store's function, the same rule in SQL still resolves the dashboard's key
    keys = {m.model: m.key for m in found.coverage}
    assert keys["Sonar"] == "perplexity/sonar" and keys["GPT-4o"] == "gpt-4o"
    assert not any(m.priced for m in found.coverage)
    assert "the price dictionary is missing" in checks["store.price.gpt-4o"].summary
    assert not found.ready


def test_current_store_passes_objects_and_names_each_unpriced_model(stores):
    found = readiness.inspect_store(stores["current"], **WINDOW)
    checks = _by_id(found.checks)
    for obj in dash.OBJECTS:
        assert checks[f"store.{obj.kind}.{obj.name}"].status is Status.PASS, obj.name
    assert checks["store.dictionary.model_costs_dict"].evidence["status"] == "LOADED"
    assert found.missing == []
    cov = {m.model: m for m in found.coverage}
    # the response model wins over the request model; the window leaves the old span out
    assert set(cov) == {"gpt-4o-mini-2024-07-18", "gpt-4o", "GPT-4o", "acme-llm-7b", "Sonar"}
    dated = cov["gpt-4o-mini-2024-07-18"]
    assert (dated.spans, dated.prompt_tokens, dated.completion_tokens, dated.spans_without_cost) == (3, 450, 65, 2)
    assert not dated.priced
    summary = checks["store.price.gpt-4o-mini-2024-07-18"].summary
    assert summary.startswith("shows cost 0 in the dashboard: 2 spans, up to 515 tokens")
    assert "no price row for 'gpt-4o-mini-2024-07-18'" in summary
    assert checks["store.price.gpt-4o-mini-2024-07-18"].status is Status.WARN  # the dashboard works, shows 0
    # GPT-4o normalises to the seeded gpt-4o row
    (gpt4o,) = [r for r in dash.price_rows() if r.model == "gpt-4o"]
    assert cov["GPT-4o"].key == "gpt-4o" and cov["GPT-4o"].priced
    assert cov["GPT-4o"].prompt_cost_per_1k == pytest.approx(gpt4o.prompt_cost_per_1k)
    assert checks["store.price.gpt-4o"].status is Status.PASS
    # every span of acme-llm-7b carries cost attributes: a warning, not a failure
    assert checks["store.price.acme-llm-7b"].status is Status.WARN
    assert checks["store.price.Sonar"].summary == ("shows cost 0 in the dashboard: 1 spans, 10 tokens "
                                                   "(no price row for 'perplexity/sonar')")
    assert found.ready  # objects present; unpriced model strings warn


def test_store_function_and_sql_rule_agree(stores):
    a = readiness.model_coverage(stores["current"], **WINDOW, use_store_function=True)
    b = readiness.model_coverage(stores["current"], **WINDOW, use_store_function=False)
    assert [(m.model, m.key) for m in a] == [(m.model, m.key) for m in b]


def test_project_filter_and_empty_window(stores):
    assert readiness.model_coverage(stores["current"], **WINDOW, project_id="other") == []
    checks = readiness.readiness_checks(stores["current"], start=dt.datetime(2020, 1, 1),
                                        end=dt.datetime(2020, 1, 2))
    assert _by_id(checks)["store.prices"].status is Status.SKIP


def test_dictionary_that_cannot_load_shows_its_error(stores):
    store = stores["current"]
    db = "broken_dict"
    store.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    store.execute(schema.create_table_sql(f"{db}.otel_traces"))
    for obj in dash.OBJECTS:
        if obj.kind in ("dictionary", "view", "table") and obj.name != "model_costs_source":
            store.execute(obj.create_sql(db))
    with pytest.raises(Exception):  # noqa: B017 - the source table is missing, so the reload fails
        store.execute(f"SYSTEM RELOAD DICTIONARY {db}.model_costs_dict")
    found = readiness.inspect_store(store, database=db, **WINDOW)
    check = _by_id(found.checks)["store.dictionary.model_costs_dict"]
    assert check.status is Status.FAIL
    assert check.evidence["status"] == "FAILED"
    assert "model_costs_source" in check.evidence["last_exception"]
    assert _by_id(found.checks)["store.table.model_costs_source"].status is Status.FAIL


def test_drifted_columns_are_named(stores):
    store = stores["current"]
    db = "drifted"
    store.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    sql = schema.create_table_sql(f"{db}.otel_traces").replace("`Duration` UInt64", "`Duration` Int64")
    store.execute(sql.replace("    `StatusMessage` String,\n", ""))
    found = readiness.inspect_store(store, database=db, **WINDOW)
    check = _by_id(found.checks)["store.otel_traces"]
    assert check.status is Status.FAIL
    assert set(check.evidence["columns"]) == {"StatusMessage: missing (upstream: String)",
                                              "Duration: Int64 (upstream: UInt64)"}


def test_missing_database_is_critical(stores):
    found = readiness.inspect_store(stores["bare"], database="no_such_db", **WINDOW)
    checks = _by_id(found.checks)
    assert checks["store.database"].status is Status.FAIL
    assert checks["store.otel_traces"].status is Status.FAIL
    assert found.coverage == []


def test_unreachable_store_is_one_error_check(tmp_path):
    from runbook_lib.sandbox.processes import free_port

    client = ClickHouseHttpStore(f"http://127.0.0.1:{free_port()}", "default", None, timeout_s=1)
    try:
        checks = readiness.readiness_checks(client, **WINDOW)
    finally:
        client.close()
    assert [c.status for c in checks] == [Status.ERROR]


def test_a_dictionary_never_loaded_is_a_warning_with_the_reload(stores):
    store = stores["current"]
    db = "lazy_dict"
    store.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    store.execute(schema.create_table_sql(f"{db}.otel_traces"))
    for obj in dash.OBJECTS:
        if obj.kind != "function":
            store.execute(obj.create_sql(db))
    found = readiness.inspect_store(store, database=db, **WINDOW)
    check = _by_id(found.checks)["store.dictionary.model_costs_dict"]
    assert check.evidence["status"] == "NOT_LOADED", check
    assert check.status is Status.WARN and check.remedy == f"SYSTEM RELOAD DICTIONARY {db}.model_costs_dict"
    store.execute(f"SYSTEM RELOAD DICTIONARY {db}.model_costs_dict")
    again = _by_id(readiness.inspect_store(store, database=db, **WINDOW).checks)
    assert again["store.dictionary.model_costs_dict"].status is Status.PASS
    assert again["store.dictionary.model_costs_dict"].summary == "LOADED, 0 price row(s)"
