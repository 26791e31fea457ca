"""Runbook sections for the dashboard's truth: readiness, repair and reconciliation, as the notebooks get them."""

from __future__ import annotations

import pytest

from runbook_lib.checks import Status
from runbook_lib.sandbox import stack
from runbook_lib.traces import dashboard_sections as sections
from runbook_lib.traces.dashboard_views import open_dashboard_session
from runbook_lib.traces.store import ClickHouseHttpStore
from runbook_lib.traces.synthetic import insert_traces
from tests.plugins.traces import span_rows_table
from tests.test_dashboard_views import END, ROWS, START
from tests.test_store_repair import _checkout

pytestmark = [pytest.mark.postgres, pytest.mark.sandbox]


@pytest.fixture(scope="module")
def env(start_trace_store, start_agentops_api, standin_jwt_secret, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sections")
    store = start_trace_store()
    api = start_agentops_api("current", trace_store=store)
    pw = tmp / "pw"
    pw.write_text(store.password)
    pw.chmod(0o600)
    stack.provision_store({"services": {"trace_store": {"url": store.query_url, "user": store.user}},
                           "secret_files": {"store_password": str(pw)}}, "bare")
    client = ClickHouseHttpStore(store.query_url, store.user, f"file:{pw}")
    pid = str(api.seed.project_id)
    insert_traces(client, span_rows_table([{**r, "project": pid if r["project"] == "proj-views" else r["project"]}
                                           for r in ROWS]))
    yield {"store": client, "api": api, "pid": pid, "tmp": tmp, "secret": standin_jwt_secret[1]}
    client.close()


def _ids(section):
    return {c.id: c for c in section.checks}


def test_readiness_repair_and_reconciliation_in_order(env):
    store, pid = env["store"], env["pid"]
    before = sections.store_readiness_section(store, start=START, end=END)
    assert _ids(before)["store.function.calculate_prompt_cost"].status is Status.FAIL
    (coverage,) = before.tables
    assert set(coverage.frame["model"]) == {"gpt-4o-mini", "gpt-4o", "gpt-4o-mini-2024-07-18"}
    assert not coverage.frame["priced"].any()

    unplanned = sections.store_repair_section(store, None)
    assert unplanned.checks[0].status is Status.SKIP and "agentops_src" in unplanned.checks[0].remedy
    refused = sections.store_repair_section(store, None, apply=True)
    assert refused.checks[0].status is Status.FAIL and "agentops_src" in refused.checks[0].remedy

    checkout = _checkout(env["tmp"] / "agentops")
    dry = sections.store_repair_section(store, checkout, start=START, end=END)
    code = [b for b in dry.blocks if b is not None and type(b).__name__ == "Code"]
    assert code and "CREATE DICTIONARY" in code[0].text and code[0].title == "Statements (dry run)"
    assert set(dry.tables[0].frame["key"]) == {"gpt-4o-mini", "gpt-4o-mini-2024-07-18"}

    applied = sections.store_repair_section(store, checkout, apply=True, start=START, end=END)
    assert _ids(applied)["store_repair.verify"].status is Status.PASS

    offline = sections.reconciliation_section(store, pid, start=START, end=END)
    (table,) = offline.tables
    assert "project metrics (API)" not in table.frame.columns
    assert _ids(offline)["dashboard.cost_views"].status is Status.WARN
    assert "the trace list sums total_cost only" in _ids(offline)["dashboard.cost_views"].summary

    session = open_dashboard_session(env["api"].url, jwt_secret=f"file:{env['secret']}",
                                     user_id=env["api"].seed.user_id)
    online = sections.reconciliation_section(store, pid, start=START, end=END, session=session)
    (table,) = online.tables
    assert {"project metrics (API)", "trace list (API)"} <= set(table.frame.columns)
    reconciled = _ids(online)["dashboard.reconciled"]
    assert reconciled.status is Status.PASS, reconciled.summary
    assert any("cached" in b.text for b in online.blocks if b is not None and type(b).__name__ == "Note")


def test_an_empty_window_skips_the_cost_views_check(env):
    """Both views of no spans show USD 0: nothing to judge, so a skip saying why, not 'both show USD 0'."""
    import datetime as dt

    empty = sections.reconciliation_section(env["store"], env["pid"], start=START - dt.timedelta(days=400),
                                            end=START - dt.timedelta(days=399))
    check = _ids(empty)["dashboard.cost_views"]
    assert check.status is Status.SKIP and "no spans in the window" in check.summary


def test_gaps_a_following_repair_fixes_are_reported_as_found(env):
    env["store"].execute("DROP FUNCTION calculate_completion_cost")
    found = _ids(sections.store_readiness_section(env["store"], start=START, end=END))
    assert found["store.function.calculate_completion_cost"].status is Status.FAIL
    following = sections.store_readiness_section(env["store"], start=START, end=END, repair_follows=True)
    assert not following.checks  # the findings are a table; the repair section carries the checks
    (findings,) = [t for t in following.tables if t.title == "Findings before the repair"]
    assert "store.function.calculate_completion_cost" in set(findings.frame["check"])
    repaired = _ids(sections.store_repair_section(env["store"], _checkout(env["tmp"] / "again"), apply=True,
                                                  start=START, end=END))
    assert repaired["store_repair.verify"].status is Status.PASS
    check = repaired["store.function.calculate_completion_cost"]  # the state the run leaves: found, then repaired
    assert check.status is Status.PASS and check.summary.startswith("found, then repaired: missing")
    assert all(c.status is not Status.FAIL for c in repaired.values())


def test_a_dashboard_that_does_not_answer_is_a_failed_fetch_and_the_table_still_shows(env, closed_port_url):
    """A session whose API then fails (the sandbox before 10_migration answers 500; here nothing listens): the
    fetch is a failed check and the rules' table is shown without API columns (it raised ValueError once)."""
    from runbook_lib.display import table_html, table_text
    from runbook_lib.traces.dashboard_views import DashboardSession

    gone = DashboardSession(closed_port_url, cookie="not-a-session")
    section = sections.reconciliation_section(env["store"], env["pid"], start=START, end=END, session=gone)
    fetch = _ids(section)["dashboard.fetch"]
    assert fetch.status is Status.FAIL and "GET /v4/meterics/project" in fetch.summary
    (table,) = section.tables
    assert "project metrics (API)" not in table.frame.columns
    assert table.formats and set(table.formats) <= set(table.frame.columns)
    assert "project metrics (rules)" in table_text(table.frame, formats=table.formats)
    assert "trace list (rules)" in table_html(table.frame, formats=table.formats)
    assert "dashboard.reconciled" not in _ids(section)  # nothing to reconcile against
