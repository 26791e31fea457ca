"""Store repair on real stand-in trace stores: dry run, apply from a checkout, verify, idempotence, refusals.

A hand-made checkout (``app/clickhouse/migrations`` written here, with a DROP before each re-created object
as upstream's files have) drives the repair on every machine; with AGENTOPS_SRC set the real checkout
repairs a bare store into the same objects as a store built by the checkout itself.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from runbook_lib.checks import Status
from runbook_lib.sandbox import stack
from runbook_lib.traces import clickhouse_migrations as mig
from runbook_lib.traces import dashboard_objects as dash
from runbook_lib.traces import prices, schema, store_repair
from runbook_lib.traces.store import ClickHouseHttpStore
from runbook_lib.traces.synthetic import insert_traces
from tests.plugins.traces import span_rows_table
from tests.test_store_readiness import T0, WINDOW, _rows

upstream = pytest.mark.upstream
SEEDED = ("gpt-4o", 0.005, 0.015)


def _checkout(root: Path, *, with_objects: bool = True) -> Path:
    folder = root / mig.MIGRATIONS_DIR
    folder.mkdir(parents=True)
    (folder / "0000_init.sql").write_text(schema.create_table_sql() + ";\n")
    if with_objects:
        body = []
        for obj in dash.OBJECTS:
            if obj.kind != "function":
                body.append(f"DROP {'VIEW' if obj.kind == 'view' else obj.kind.upper()} IF EXISTS "
                            f"{obj.qualified()}")
            body.append(obj.create_sql())
        (folder / "0001_objects.sql").write_text(";\n\n".join(body) + ";\n")
        (folder / "0002_seed.sql").write_text(
            "INSERT INTO otel_2.model_costs_source (model, prompt_cost_per_1k, completion_cost_per_1k) VALUES\n"
            f"('{SEEDED[0]}', {SEEDED[1]}, {SEEDED[2]});\nSYSTEM RELOAD DICTIONARY otel_2.model_costs_dict;\n")
    return root


def _client(store, tmp: Path) -> ClickHouseHttpStore:
    pw = tmp / f"pw-{store.pid}"
    pw.write_text(store.password)
    pw.chmod(0o600)
    return ClickHouseHttpStore(store.query_url, store.user, f"file:{pw}")


def _state(store, tmp: Path) -> dict:
    return {"services": {"trace_store": {"url": store.query_url, "user": store.user}},
            "secret_files": {"store_password": str(tmp / f"pw-{store.pid}")}}


def _catalog(client: ClickHouseHttpStore) -> dict:
    """What system.functions, system.dictionaries and system.tables say about the store's objects."""
    def rows(sql):
        return sorted(tuple(str(v) for v in r) for r in client.query_df(sql).itertuples(index=False))
    return {
        "functions": rows("SELECT name FROM system.functions WHERE origin = 'SQLUserDefined'"),
        "dictionaries": rows("SELECT database, name, toString(status) FROM system.dictionaries"),
        "tables": rows("SELECT database, name, engine FROM system.tables WHERE database = 'otel_2'"),
    }


def _price_table(client: ClickHouseHttpStore) -> list[tuple]:
    return sorted(tuple(r) for r in client.query_df(
        "SELECT model, prompt_cost_per_1k, completion_cost_per_1k FROM otel_2.model_costs_source").itertuples(
        index=False))


@pytest.fixture
def fresh(start_trace_store, tmp_path):
    """``fresh(level)``: a new store at ``bare`` or ``current``, loaded with the readiness span set."""
    clients = []

    def make(level: str = "bare") -> ClickHouseHttpStore:
        store = start_trace_store()
        client = _client(store, tmp_path)
        stack.provision_store(_state(store, tmp_path), level)
        insert_traces(client, span_rows_table(_rows()))
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


def test_bare_to_current_dry_run_apply_verify_and_no_op(fresh, tmp_path):
    checkout = _checkout(tmp_path / "agentops")
    store = fresh("bare")
    reference = fresh("current")
    before = _catalog(store)

    # refused with nothing changed: a path that is not a checkout, and a checkout that lacks the objects
    for bad in (tmp_path / "nowhere", _checkout(tmp_path / "half", with_objects=False)):
        refused = store_repair.repair_store(store, bad, apply=True, **WINDOW)
        assert (refused.ok, refused.changed, refused.checks[0].status) == (False, False, Status.FAIL)
        assert refused.checks[0].summary.startswith("refused, nothing changed")
        assert _catalog(store) == before

    dry = store_repair.repair_store(store, checkout, **WINDOW)
    assert (dry.mode, dry.ok, dry.changed) == ("dry_run", True, False)
    assert _catalog(store) == before
    for obj in dash.OBJECTS:
        assert obj.create_sql() in dry.sql
    assert "DROP DICTIONARY IF EXISTS otel_2.model_costs_dict" in dry.sql  # safe: the dictionary is missing
    assert "0000_init.sql" not in dry.sql  # otel_traces exists: never re-run
    book = prices.price_book()
    dated = book.price_for("gpt-4o-mini-2024-07-18")
    assert "'gpt-4o-mini-2024-07-18'" in dry.sql and "'perplexity/sonar'" in dry.sql
    assert "('gpt-4o'," not in dry.plan.statements[-2].sql  # seeded by the checkout: not inserted again
    assert {m.model for m in dry.plan.price_matches} == {"gpt-4o-mini-2024-07-18", "Sonar"}
    assert dry.plan.no_price == ["acme-llm-7b"]
    assert (dry.plan.source, dry.plan.source_version) == (book.source.name, book.source.version)
    assert dry.checks[0].status is Status.WARN

    done = store_repair.repair_store(store, checkout, apply=True, **WINDOW)
    assert (done.mode, done.ok, done.changed) == ("apply", True, True), [c.summary for c in done.checks]
    assert done.checks[-1].id == "store_repair.verify" and done.checks[-1].status is Status.PASS
    after = _catalog(store)
    ref = _catalog(reference)
    assert after["functions"] == ref["functions"]
    assert after["dictionaries"] == ref["dictionaries"]
    assert after["tables"] == ref["tables"]
    rows = {m: (p, c) for m, p, c in _price_table(store)}
    assert rows["gpt-4o-mini-2024-07-18"] == pytest.approx((dated.prompt_cost_per_1k, dated.completion_cost_per_1k))
    assert rows["gpt-4o"] == (SEEDED[1], SEEDED[2])
    cov = {m.model: m for m in done.after.coverage}
    assert cov["gpt-4o-mini-2024-07-18"].priced and cov["GPT-4o"].priced and not cov["acme-llm-7b"].priced
    # the dashboard's own function now prices the dated response model
    got = store.query_df("SELECT dictGetOrDefault('otel_2.model_costs_dict', 'prompt_cost_per_1k', "
                         "normalize_model_name('gpt-4o-mini-2024-07-18'), 0.) AS p")["p"].iloc[0]
    assert got == pytest.approx(dated.prompt_cost_per_1k)

    again = store_repair.repair_store(store, checkout, apply=True, **WINDOW)
    assert (again.ok, again.changed, again.plan.statements) == (True, False, [])
    assert again.checks[0].summary.startswith("nothing to do")
    assert {m: (p, c) for m, p, c in _price_table(store)} == rows and len(_price_table(store)) == len(rows)


def test_existing_objects_and_price_rows_are_never_replaced(fresh, tmp_path):
    checkout = _checkout(tmp_path / "agentops")
    store = fresh("current")
    store.execute("INSERT INTO otel_2.model_costs_source VALUES ('perplexity/sonar', 0, 0)")  # an operator's row
    store.execute("DROP FUNCTION calculate_prompt_cost")
    prices_before = _price_table(store)

    plan = store_repair.plan_store_repair(store, checkout, **WINDOW)
    touched = {s.purpose.split()[-1] for s in plan.statements if s.origin.startswith("0001")}
    assert touched == {"calculate_prompt_cost"}  # only the missing function comes from the checkout
    assert [s.origin for s in plan.statements] == ["0001_objects.sql#6", "prices", "reload"]
    assert any("model_costs_dict" in s and "exists" in s for s in plan.skipped)
    assert "perplexity/sonar" not in {r.model for r in plan.price_rows}  # priced 0 by the operator: left alone

    result = store_repair.repair_store(store, checkout, apply=True, **WINDOW)
    assert result.changed
    prices_after = _price_table(store)
    assert set(prices_before) <= set(prices_after)
    assert [r for r in prices_after if r[0] == "perplexity/sonar"] == [("perplexity/sonar", 0.0, 0.0)]
    assert {r[0] for r in set(prices_after) - set(prices_before)} == {"gpt-4o-mini-2024-07-18"}
    checks = {c.id: c for c in result.after.checks}
    assert checks["store.function.calculate_prompt_cost"].status is Status.PASS
    assert checks["store.price.Sonar"].status is Status.WARN  # the operator's zero row stands
    verify = result.checks[-1]
    assert result.ok and verify.status is Status.WARN and "Sonar" in verify.evidence["unpriced"]


def test_without_a_checkout_only_prices_are_repaired(fresh, tmp_path):
    current = fresh("current")
    before = _price_table(current)
    result = store_repair.repair_store(current, None, apply=True, **WINDOW)
    assert result.ok and result.changed and result.plan.checkout is None
    assert [s.origin for s in result.plan.statements] == ["prices", "reload"]
    assert set(before) < set(_price_table(current))
    bare = fresh("bare")
    refused = store_repair.repair_store(bare, None, apply=True, **WINDOW)
    assert not refused.ok and not refused.changed
    assert "pass agentops_src" in refused.checks[0].remedy and "never from SQL of its own" in refused.checks[0].summary


def test_a_user_table_wins_and_secrets_stay_out_of_results(fresh, tmp_path, monkeypatch):
    checkout = _checkout(tmp_path / "agentops")
    store = fresh("current")
    result = store_repair.repair_store(store, checkout, apply=True, user_prices={"acme-llm-7b": (0.5, 0.25)},
                                       **WINDOW)
    assert {m.model: m.source for m in result.plan.price_matches}["acme-llm-7b"] == "your table"
    assert ("acme-llm-7b", 0.5, 0.25) in _price_table(store)
    assert result.ok

    secret = "planted-store-pw-" + "x" * 12
    monkeypatch.setenv("PLANTED_STORE_PW", secret)
    wrong = ClickHouseHttpStore(store.url, "default", "env:PLANTED_STORE_PW")
    try:
        refused = store_repair.repair_store(wrong, checkout, apply=True, **WINDOW)
    finally:
        wrong.close()
    assert not refused.ok and not refused.changed
    text = json.dumps([c.to_dict() for c in refused.checks]) + repr(refused)
    assert "authentication" in text.lower() and secret not in text


@upstream
def test_real_checkout_repairs_a_bare_store_into_what_the_checkout_builds(agentops_src, fresh, start_trace_store,
                                                                          tmp_path):
    store = fresh("bare")
    built = start_trace_store(create_schema=False)
    ref = _client(built, tmp_path)
    try:
        stack.provision_store(_state(built, tmp_path), "current", src=agentops_src)
        result = store_repair.repair_store(store, agentops_src, apply=True, **WINDOW)
        files = mig.read_plan(agentops_src).files
        assert result.ok, [c.summary for c in result.checks]
        for stmt in result.executed:
            assert stmt.origin in ("prices", "reload") or stmt.origin.split("#")[0] in files
        assert not any(s.origin.startswith("0000") for s in result.executed)
        ours, theirs = _catalog(store), _catalog(ref)
        dashboard = {o.name for o in dash.OBJECTS} | {schema.TABLE}
        theirs["tables"] = [t for t in theirs["tables"] if t[1] in dashboard]  # 0000_init also makes logs/metrics
        assert ours == theirs
        seeded = set(_price_table(ref))
        assert seeded <= set(_price_table(store))
        added = {r[0] for r in set(_price_table(store)) - seeded}
        assert "gpt-4o-mini-2024-07-18" in added and "gpt-4o" not in added
        again = store_repair.repair_store(store, agentops_src, apply=True, **WINDOW)
        assert again.plan.statements == [] and not again.changed
    finally:
        ref.close()



def test_a_failing_statement_stops_the_repair_and_is_named(fresh, tmp_path):
    checkout = _checkout(tmp_path / "agentops")
    objects_sql = checkout / mig.MIGRATIONS_DIR / "0001_objects.sql"
    broken = objects_sql.read_text().replace("span_count_state AggregateFunction(count)",
                                             "span_count_state NoSuchType")
    objects_sql.write_text(broken)
    store = fresh("bare")
    result = store_repair.repair_store(store, checkout, apply=True, **WINDOW)
    assert (result.ok, result.changed) == (False, True)
    (check,) = result.checks
    assert check.status is Status.FAIL and "create table otel_2.trace_span_counts" in check.title
    assert "NoSuchType" in check.summary or "type" in check.summary.lower()
    ran = check.evidence["ran"]
    assert ran and not any(r.endswith("create table otel_2.trace_span_counts") for r in ran)
    # what ran before the failure stays; a second run plans only what is still missing
    again = store_repair.plan_store_repair(store, _checkout(tmp_path / "fixed"), **WINDOW)
    assert {s.purpose.split()[-1] for s in again.statements if s.origin.startswith("0001")} == {
        "otel_2.trace_span_counts", "otel_2.mv_trace_span_counts"}


HOSTILE_MODELS = (
    "x'); DROP TABLE otel_2.otel_traces; --/gpt-4o",  # a quote and a statement after it
    "evil\\/gpt-4o",  # a backslash before the provider slash (would escape the closing quote)
    "new\nline/gpt-4o",  # a newline inside the literal
    "ünï/gpt-4o",  # non-ASCII
)


def test_hostile_model_strings_are_inserted_as_values_never_as_sql(fresh, tmp_path):
    """Model strings come from spans, which anyone holding a project key can send: a string the price rules
    match (via its provider prefix) is inserted as a value; nothing it holds runs as SQL."""
    store = fresh("current")
    insert_traces(store, span_rows_table([
        {"ts": T0 + dt.timedelta(minutes=1, seconds=i), "trace": f"h{i}", "span": f"h{i}", "project": "p1",
         "attrs": {"gen_ai.request.model": model, "gen_ai.usage.prompt_tokens": "10",
                   "gen_ai.usage.completion_tokens": "5"}} for i, model in enumerate(HOSTILE_MODELS)]))
    tables_before = _catalog(store)["tables"]
    done = store_repair.repair_store(store, None, apply=True, **WINDOW)
    assert done.ok and done.changed, [c.summary for c in done.checks]
    assert _catalog(store)["tables"] == tables_before  # nothing dropped or created
    keys = {m.model: m.key for m in done.after.coverage}
    rows = {m for m, _, _ in _price_table(store)}
    for model in HOSTILE_MODELS:
        assert keys[model] in rows, model  # inserted as exactly that string
        assert {m.model: m for m in done.after.coverage}[model].priced, model
    assert store.query_df("SELECT count() AS n FROM otel_2.otel_traces")["n"].iloc[0] > 0
