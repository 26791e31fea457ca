"""Trace store levels: the checkout's ClickHouse migrations (read, split, applied) and the project's own DDL.

Unit tests of the splitter need nothing; the rest read the checkout named by AGENTOPS_SRC and start
trace stores (real processes, queried over HTTP by our client, httpx and clickhouse-connect).
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from runbook_lib.errors import TraceStoreError
from runbook_lib.sandbox import stack
from runbook_lib.traces import clickhouse_migrations as mig
from runbook_lib.traces import schema
from runbook_lib.traces.store import ClickHouseHttpStore

# --- splitting and classifying (no checkout needed) -----------------------------------------------


def test_split_respects_quotes_backquotes_and_comments():
    script = """
    -- a leading comment; with a semicolon
    CREATE TABLE t (`a;b` String DEFAULT 'x;y', c String DEFAULT 'it''s;') ENGINE = Memory;
    /* block; comment */ INSERT INTO t VALUES ('a\\';b', 'c');
    SELECT "q;uoted" -- trailing; comment
    ;
    -- only a comment;
    ;
    SELECT 1"""
    parts = mig.split_statements(script)
    assert len(parts) == 4, parts
    assert parts[0].startswith("CREATE TABLE t (`a;b` String DEFAULT 'x;y', c String DEFAULT 'it''s;')")
    assert parts[1].startswith("INSERT INTO t VALUES ('a\\';b', 'c')")
    assert parts[2].startswith('SELECT "q;uoted"')
    assert parts[3] == "SELECT 1"


@pytest.mark.parametrize(("sql", "expected"), [
    ("CREATE TABLE IF NOT EXISTS db.t (a Int8) ENGINE = Memory", ("create", "table", "db.t", True)),
    ("create materialized view `db`.`m v` TO db.t AS SELECT 1", ("create", "materialized view", "db.m v", False)),
    ("CREATE OR REPLACE FUNCTION f AS x -> x", ("create", "function", "f", False)),
    ("-- note\nDROP DICTIONARY IF EXISTS db.d", ("drop", "dictionary", "db.d", True)),
    ("DROP VIEW IF EXISTS db.mv", ("drop", "view", "db.mv", True)),
    ("INSERT INTO db.prices (m) VALUES ('x')", ("insert", "table", "db.prices", False)),
    ("SYSTEM RELOAD DICTIONARY db.d", ("reload", "dictionary", "db.d", False)),
    ("ALTER TABLE t ADD COLUMN x Int8", ("alter", "table", "t", False)),
    ("SELECT 1", ("other", "", None, False)),
])
def test_classify_names_the_object_each_statement_touches(sql, expected):
    assert mig.classify(sql) == expected


def test_dictionary_source_is_pointed_at_the_local_store():
    sql = ("CREATE DICTIONARY db.d (k String, v Float64) PRIMARY KEY k\n"
           "SOURCE(CLICKHOUSE(HOST 'ch.example' PORT 9000 USER 'default' PASSWORD 'p w' DB 'db' TABLE 'src'))\n"
           "LIFETIME(0) LAYOUT(COMPLEX_KEY_HASHED())")
    local = mig.point_dictionaries_at_local_store(sql)
    assert "SOURCE(CLICKHOUSE(DB 'db' TABLE 'src'))" in local
    for gone in ("ch.example", "9000", "USER", "PASSWORD"):
        assert gone not in local
    assert mig.point_dictionaries_at_local_store("SELECT 'HOST x'") == "SELECT 'HOST x'"


def test_a_failing_statement_is_named(tmp_path):
    folder = tmp_path / mig.MIGRATIONS_DIR
    folder.mkdir(parents=True)
    (folder / "0001_b.sql").write_text("CREATE TABLE db.b (a Int8) ENGINE = Memory;\nSELECT 2;")
    (folder / "0000_a.sql").write_text("SELECT 1;")
    plan = mig.read_plan(tmp_path)
    assert plan.files == ("0000_a.sql", "0001_b.sql")
    ran: list[str] = []

    def execute(sql: str) -> None:
        if sql.startswith("CREATE"):
            raise RuntimeError("Code: 81. DB::Exception: Database db does not exist. (UNKNOWN_DATABASE)")
        ran.append(sql)

    with pytest.raises(TraceStoreError, match=r"0001_b.sql#1 create table db.b failed: .*UNKNOWN_DATABASE"):
        mig.apply_plan(plan, execute)
    assert ran == ["SELECT 1"]
    done = mig.apply_plan(plan, execute, skip_existing={"db.b"})
    assert [d.outcome for d in done] == ["applied", "skipped", "applied"]


def test_a_folder_without_migrations_is_refused(tmp_path):
    with pytest.raises(TraceStoreError, match="no ClickHouse migrations folder"):
        mig.read_plan(tmp_path)


# --- the checkout's files ---------------------------------------------------------------------------

upstream = pytest.mark.upstream


@upstream
def test_plan_of_the_checkout_lists_every_statement_in_file_order(agentops_src):
    plan = mig.read_plan(agentops_src)
    files = sorted(p.name for p in (agentops_src / mig.MIGRATIONS_DIR).glob("*.sql"))
    assert list(plan.files) == files and files[0].startswith("0000")
    for name in files:  # independent count: these files end each statement with ';' at a line end
        text = mig.strip_comments((agentops_src / mig.MIGRATIONS_DIR / name).read_text())
        assert len([s for s in plan if s.file == name]) == len(re.findall(r";\s*$", text, re.M)), name
    assert [s for s in plan if s.action == "other"] == []
    assert all(s.name for s in plan)
    created = plan.created()
    assert schema.QUALIFIED in created
    kinds = {s.name: s.kind for s in plan if s.action == "create"}
    assert kinds["calculate_prompt_cost"] == "function" and kinds[schema.QUALIFIED] == "table"
    assert "dictionary" in kinds.values() and "materialized view" in kinds.values()
    assert plan.databases() == [schema.DATABASE]
    only = plan.only([schema.QUALIFIED])
    assert [(s.action, s.name) for s in only] == [("create", schema.QUALIFIED)]


def _password_file(tmp_path: Path, password: str) -> Path:
    path = tmp_path / "store_password"
    path.write_text(password)
    path.chmod(0o600)
    return path


def _state_for(store, tmp_path: Path) -> dict:
    """The part of a sandbox state that provision_store reads."""
    return {"services": {"trace_store": {"url": store.query_url, "user": store.user}},
            "secret_files": {"store_password": str(_password_file(tmp_path, store.password))}}


def _rows(client: ClickHouseHttpStore, sql: str) -> list[tuple]:
    return [tuple(r) for r in client.query_df(sql).itertuples(index=False)]


def _objects(client: ClickHouseHttpStore, database: str = schema.DATABASE) -> set[str]:
    names = {f"{database}.{n}" for (n,) in _rows(client, f"SELECT name FROM system.tables WHERE database = "
                                                         f"'{database}'")}
    return names | {n for (n,) in _rows(client, "SELECT name FROM system.functions WHERE origin = 'SQLUserDefined'")}


@upstream
def test_checkout_migrations_on_a_bare_store_create_every_object(agentops_src, start_trace_store, tmp_path):
    import clickhouse_connect

    store = start_trace_store(create_schema=False)
    state = _state_for(store, tmp_path)
    created = stack.provision_store(state, "current", src=agentops_src)
    client = store.client()
    try:
        plan = mig.read_plan(agentops_src)
        assert created == plan.created()
        assert set(created) <= _objects(client)
        dicts = _rows(client, "SELECT database, name, status FROM system.dictionaries")
        assert (schema.DATABASE, "model_costs_dict", "LOADED") in dicts
        udfs = {n for (n,) in _rows(client, "SELECT name FROM system.functions WHERE origin = 'SQLUserDefined'")}
        assert {"normalize_model_name", "calculate_prompt_cost", "calculate_completion_cost"} <= udfs
        (price,) = _rows(client, "SELECT any(prompt_cost_per_1k) FROM otel_2.model_costs_source "
                                 "WHERE model = 'gpt-4o-mini'")[0]
        assert price > 0

        # the functions name the dictionary without a database: the request's default database decides
        ch = clickhouse_connect.get_client(host="127.0.0.1", port=int(store.query_url.rsplit(":", 1)[1]),
                                           username=store.user, password=store.password, database=schema.DATABASE)
        try:
            got = ch.query("SELECT calculate_prompt_cost(1000, 'gpt-4o-mini'), currentDatabase()").result_rows[0]
        finally:
            ch.close()
        assert got == (pytest.approx(price), schema.DATABASE)

        # a second pass with what exists skipped changes nothing and fails nowhere (the later repair's path)
        existing = mig.existing_objects(lambda sql: _rows(client, sql))
        assert set(created) <= existing and "otel_2.not_there" not in existing
        rows_before = _rows(client, "SELECT count() FROM otel_2.model_costs_source")
        again = mig.apply_plan([s for s in plan if s.action != "insert"], client.execute, skip_existing=existing,
                               transform=mig.point_dictionaries_at_local_store)
        assert {a.outcome for a in again if a.statement.action in ("create", "drop")} == {"skipped"}
        assert _rows(client, "SELECT count() FROM otel_2.model_costs_source") == rows_before
        auth = {"X-ClickHouse-User": store.user, "X-ClickHouse-Key": store.password}
        with httpx.Client(trust_env=False) as http:
            by_header = http.post(store.query_url, headers={**auth, "X-ClickHouse-Database": schema.DATABASE},
                                  params={"query": "SELECT calculate_prompt_cost(2000, 'GPT-4o-mini')"})
            assert by_header.status_code == 200, by_header.text
            assert float(by_header.text) == pytest.approx(2 * price)
            without = http.post(store.query_url, headers=auth,
                                params={"query": "SELECT calculate_prompt_cost(1000, 'gpt-4o-mini')"})
            assert without.status_code != 200 and "model_costs_dict" in without.text
            after = http.post(store.query_url, headers=auth, params={"query": "SELECT currentDatabase()"})
            assert after.text.strip() == "default"  # one request's database does not leak into the next
    finally:
        client.close()


@upstream
def test_bare_level_in_real_mode_is_only_the_checkouts_otel_traces(agentops_src, start_trace_store, tmp_path):
    store = start_trace_store(create_schema=False)
    assert stack.provision_store(_state_for(store, tmp_path), "bare", src=agentops_src) == [schema.QUALIFIED]
    client = store.client()
    try:
        assert _objects(client) == {schema.QUALIFIED}
        columns = [n for (n,) in _rows(client, "SELECT name FROM system.columns WHERE database = 'otel_2' "
                                               "AND table = 'otel_traces' ORDER BY position")]
        assert [c for c in columns if c != "project_id"] == [name for name, _ in schema.COLUMNS]
    finally:
        client.close()


def test_bare_level_in_standin_mode_is_only_otel_traces(start_trace_store, tmp_path):
    store = start_trace_store()
    assert stack.provision_store(_state_for(store, tmp_path), "bare") == [schema.QUALIFIED]
    client = store.client()
    try:
        assert _objects(client) == {schema.QUALIFIED}
    finally:
        client.close()


@upstream
def test_standin_ddl_matches_the_checkout_on_the_same_prices(agentops_src, start_trace_store, tmp_path):
    """Stand-in ``current`` (the project's DDL) and the checkout's DDL: same object names, same answers."""
    from runbook_lib.traces import dashboard_objects as dash

    rows = [dash.PriceRow("gpt-4o-mini", 0.00015, 0.0006), dash.PriceRow("openai/gpt-4o", 0.005, 0.015),
            dash.PriceRow("perplexity/sonar", 0.0001, 0.0004), dash.PriceRow("perplexity/sonar-pro", 0.0005, 0.0015)]
    ours = start_trace_store()
    theirs = start_trace_store(create_schema=False)
    a, b = ours.client(), theirs.client()
    try:
        for sql in dash.create_statements(schema.DATABASE) + dash.price_statements(schema.DATABASE, rows):
            a.execute(sql)
        plan = mig.read_plan(agentops_src)
        b.execute(f"CREATE DATABASE {schema.DATABASE}")
        mig.apply_plan([s for s in plan if s.action != "insert"], b.execute,
                       transform=mig.point_dictionaries_at_local_store)
        for sql in dash.price_statements(schema.DATABASE, rows):
            b.execute(sql)

        ours_names = {obj.qualified(schema.DATABASE) for obj in dash.OBJECTS}
        theirs_dashboard = {s.name for s in plan if s.action == "create" and not s.file.startswith("0000")}
        assert ours_names == theirs_dashboard
        assert ours_names <= _objects(a) and ours_names <= _objects(b)

        models = ["gpt-4o-mini", "GPT-4o-Mini", "openai/gpt-4o", "gpt-4o", "sonar", "Sonar-Pro", "perplexity/sonar",
                  "unpriced-model", ""]
        probes = ", ".join(f"calculate_prompt_cost({t}, '{m}'), calculate_completion_cost({t}, '{m}'), "
                           f"normalize_model_name('{m}')" for m in models for t in (0, -5, 1000, 12345))
        answers = []
        for client in (a, b):
            with httpx.Client(trust_env=False) as http:
                r = http.post(client.url, params={"query": f"SELECT {probes} FORMAT JSONCompact",
                                                  "database": schema.DATABASE},
                              headers={"X-ClickHouse-User": "default",
                                       "X-ClickHouse-Key": (ours if client is a else theirs).password})
            assert r.status_code == 200, r.text
            answers.append(r.json()["data"][0])
        assert answers[0] == answers[1]
        assert any(float(x) > 0 for x in answers[0][::3])  # some prices were found, not all zeros
    finally:
        a.close()
        b.close()
