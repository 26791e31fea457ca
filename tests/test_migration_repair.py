"""Repair: plan from drift, dry run, one-transaction apply, preflight, locks and faults."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from runbook_lib.db.auth_probe import probe_auth_query
from runbook_lib.db.drift import drift_report
from runbook_lib.db.repair import run_repair
from runbook_lib.sandbox.agentops_db import LATE_MIGRATIONS, migration_sql
from tests.migration_helpers import catalog, query, state

pytestmark = pytest.mark.postgres


def _wait_for(predicate, what: str, ceiling_s: float = 60.0) -> None:
    """Poll until predicate() is true; the ceiling only guards against a hung test."""
    deadline = time.monotonic() + ceiling_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _waiting(dsn: str, dbname: str, wait_event: str) -> list[int]:
    rows = query(dsn, "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = "
                      "'agentops-runbooks' AND wait_event_type = 'Lock' AND wait_event = %s", (dbname, wait_event))
    return [r[0] for r in rows]


@pytest.mark.parametrize("level", ["early", "invites_fixed", "field_guide"])
def test_dry_run_changes_nothing(agentops_db, level):
    db = agentops_db(level, ledger=True)
    before = state(db.dsn)
    result = run_repair(db.dsn_ref)
    assert result.mode == "dry_run" and not result.changed and result.plan.steps
    assert result.checks[0].id == "repair.plan" and "dry run: nothing changed" in result.checks[0].summary
    assert "BEGIN;" in result.sql and "pg_advisory_xact_lock" in result.sql
    assert [row["action"] for row in result.plan_rows] == [s.action.value for s in result.plan.steps]
    assert all(type(row["action"]) is str for row in result.plan_rows)
    assert state(db.dsn) == before


@pytest.mark.parametrize("ledger", [False, True], ids=["no-ledger", "ledger"])
@pytest.mark.parametrize("level", ["early", "invites_fixed", "field_guide"])
def test_apply_brings_every_level_to_the_expected_schema(agentops_db, level, ledger):
    reference = agentops_db("current", ledger=ledger)
    db = agentops_db(level, ledger=ledger)
    probe = probe_auth_query(db.dsn_ref, db.api_key_ref)
    assert not probe.ok and probe.missing_column == "user_orgs_1.is_paid"

    result = run_repair(db.dsn_ref, apply=True)
    assert result.ok and result.changed, [c.summary for c in result.checks]
    assert drift_report(db.dsn_ref).clean
    repaired, built = catalog(db.dsn), catalog(reference.dsn)
    assert repaired["tables"] == built["tables"]          # same columns (order), keys and indexes
    assert repaired["schemas"] == built["schemas"] and repaired["enums"] == built["enums"]
    probe = probe_auth_query(db.dsn_ref, db.api_key_ref)
    assert probe.ok and probe.project_id == db.seed.project_id and probe.prem_status == "pro"
    if ledger:
        recorded = {r[0] for r in query(db.dsn, "SELECT version FROM supabase_migrations.schema_migrations")}
        assert set(LATE_MIGRATIONS) <= recorded
        assert set(result.ledger_recorded) == set(LATE_MIGRATIONS) - set(db.seed.applied)
        assert next(c for c in drift_report(db.dsn_ref).checks if c.id == "drift.ledger").status.value == "pass"


def test_rows_are_preserved_with_their_values(agentops_db):
    db = agentops_db("early")
    seed = db.seed
    members_before = query(db.dsn, "SELECT user_id, org_id, role::text, user_email FROM public.user_orgs ORDER BY 1, 2")
    orgs_before = query(db.dsn, "SELECT id, name, prem_status::text FROM public.orgs ORDER BY 1")
    result = run_repair(db.dsn_ref, apply=True)
    assert result.ok
    invites = query(db.dsn, "SELECT inviter_id::text, invitee_email, org_id::text, role::text, org_name, "
                            "created_at IS NOT NULL FROM public.org_invites")
    assert {(i, e, o) for i, e, o, *_ in invites} == set(seed.invites)   # inviter and email under new names
    assert all(row[5] for row in invites)                                # created_at filled by its default
    assert query(db.dsn, "SELECT user_id, org_id, role::text, user_email FROM public.user_orgs ORDER BY 1, 2") \
        == members_before
    assert query(db.dsn, "SELECT id, name, prem_status::text FROM public.orgs ORDER BY 1") == orgs_before
    rows = query(db.dsn, "SELECT user_id, org_id, is_paid FROM public.user_orgs")
    paid = {(str(u), str(o)): p for u, o, p in rows}
    assert paid[(seed.user_id, seed.org_id)] is True            # owner of the pro org: a paid seat (backfill)
    assert paid[(seed.member_user_id, seed.org_id)] is False
    assert paid[(seed.user_id, seed.other_org_id)] is False      # free org
    rows = {c.id: c for c in result.checks}
    assert rows["repair.rows.public.org_invites"].evidence["before"]["md5"] == \
        rows["repair.rows.public.org_invites"].evidence["after"]["md5"]


def test_second_apply_is_a_no_op(agentops_db):
    db = agentops_db("early", ledger=True)
    assert run_repair(db.dsn_ref, apply=True).changed
    before = state(db.dsn)
    again = run_repair(db.dsn_ref, apply=True)
    assert again.ok and not again.changed and again.plan.empty and again.outcomes == []
    assert "nothing to do" in again.checks[0].summary
    assert state(db.dsn) == before


def _add_colliding_invite(db) -> str:
    stranger = str(uuid.uuid4())
    query(db.dsn, "INSERT INTO auth.users (id, email) VALUES (%s, 'third@example.test')", (stranger,))
    # Another inviter invites the same email to the same org: legal under the old key (user_id, org_id).
    query(db.dsn, "INSERT INTO public.org_invites (user_id, org_id, role, org_name, inviter) "
                  "VALUES (%s, %s, 'developer', 'test_org', 'invitee-one@example.test')", (stranger, db.seed.org_id))
    return stranger


def test_colliding_invites_stop_the_run_before_any_change(agentops_db):
    db = agentops_db("early")
    stranger = _add_colliding_invite(db)
    before = state(db.dsn)
    dry = run_repair(db.dsn_ref)
    assert not dry.ok and dry.checks[0].status.value == "fail"
    result = run_repair(db.dsn_ref, apply=True)
    assert not result.ok and not result.changed
    check = next(c for c in result.checks if c.id.startswith("repair.preflight."))
    assert check.id == "repair.preflight.20250620000000.org_invites.org_invites_pkey"
    rows = check.evidence["rows"]
    assert {r["user_id"] for r in rows} == {db.seed.user_id, stranger}
    assert {r["inviter"] for r in rows} == {"invitee-one@example.test"}
    assert state(db.dsn) == before


def test_null_emails_and_orphan_inviters_stop_the_run(agentops_db):
    db = agentops_db("early")
    query(db.dsn, "ALTER TABLE public.org_invites DROP CONSTRAINT org_invites_users_id_fkey")
    query(db.dsn, "ALTER TABLE public.org_invites ALTER COLUMN inviter DROP NOT NULL")
    ghost = str(uuid.uuid4())
    query(db.dsn, "INSERT INTO public.org_invites (user_id, org_id, role, org_name, inviter) "
                  "VALUES (%s, %s, 'developer', 'test_org', NULL)", (ghost, db.seed.org_id))
    before = state(db.dsn)
    result = run_repair(db.dsn_ref, apply=True)
    assert not result.ok
    problems = {c.id: c for c in result.checks if c.id.startswith("repair.preflight.")}
    null_rows = problems["repair.preflight.20250620000000.org_invites.org_invites_pkey"].evidence["rows"]
    assert any(r["inviter"] is None for r in null_rows)
    orphans = problems["repair.preflight.20250620000000.org_invites.org_invites_inviter_id_fkey"].evidence["rows"]
    assert [r["user_id"] for r in orphans] == [ghost]
    assert "repair.preflight.20250620000000.org_invites.invitee_email.after-rename" in problems
    assert state(db.dsn) == before


def test_concurrent_apply_waits_on_the_lock_then_finds_nothing_to_do(agentops_db):
    db = agentops_db("early")
    blocker = psycopg.connect(db.dsn)
    try:
        blocker.execute("LOCK TABLE public.orgs IN SHARE MODE")  # reads pass; the billing FK step waits
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(run_repair, db.dsn_ref, apply=True, lock_timeout_ms=120_000)
            _wait_for(lambda: _waiting(db.server.dsn(), db.name, "relation"), "the first apply to block")
            second = pool.submit(run_repair, db.dsn_ref, apply=True, lock_timeout_ms=120_000)
            _wait_for(lambda: _waiting(db.server.dsn(), db.name, "advisory"), "the second apply to wait")
            blocker.rollback()
            one, two = first.result(), second.result()
    finally:
        blocker.close()
    assert one.ok and one.changed
    assert two.ok and not two.changed and two.plan.empty
    assert drift_report(db.dsn_ref).clean


def test_concurrent_apply_times_out_cleanly(agentops_db):
    db = agentops_db("early")
    blocker = psycopg.connect(db.dsn)
    try:
        blocker.execute("LOCK TABLE public.orgs IN SHARE MODE")
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(run_repair, db.dsn_ref, apply=True, lock_timeout_ms=120_000)
            _wait_for(lambda: _waiting(db.server.dsn(), db.name, "relation"), "the first apply to block")
            second = run_repair(db.dsn_ref, apply=True, lock_timeout_ms=200)
            assert not second.ok and not second.changed
            assert "another 10_migration repair holds the advisory lock" in second.checks[0].summary
            assert second.checks[0].to_dict()["evidence"]["phase"] == "advisory lock"
            blocker.rollback()
            assert first.result().ok
    finally:
        blocker.close()


def test_connection_killed_mid_apply_leaves_the_database_as_before(agentops_db):
    db = agentops_db("early", ledger=True)
    before = state(db.dsn)
    blocker = psycopg.connect(db.dsn)
    try:
        blocker.execute("LOCK TABLE public.orgs IN SHARE MODE")
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(run_repair, db.dsn_ref, apply=True, lock_timeout_ms=120_000)
            _wait_for(lambda: _waiting(db.server.dsn(), db.name, "relation"), "the apply to block in a step")
            # Earlier steps (the org_invites fix, user_callback_url, deploy schema) have run in the transaction.
            pid = _waiting(db.server.dsn(), db.name, "relation")[0]
            query(db.server.dsn(), "SELECT pg_terminate_backend(%s)", (pid,))
            result = running.result()
        blocker.rollback()
    finally:
        blocker.close()
    assert not result.ok and not result.changed
    assert result.failed_step and result.failed_step.startswith("20250711231118.")
    assert "connection was lost" in result.checks[0].summary and "nothing was changed" in result.checks[0].summary
    assert [o.status for o in result.outcomes][:1] == ["applied"]
    assert result.checks[0].evidence["phase"] == "step" and result.checks[0].evidence["step"] == result.failed_step
    assert state(db.dsn) == before


def test_step_lock_timeout_rolls_back(agentops_db):
    db = agentops_db("invites_fixed")
    before = state(db.dsn)
    blocker = psycopg.connect(db.dsn)
    try:
        blocker.execute("LOCK TABLE public.orgs IN SHARE MODE")
        result = run_repair(db.dsn_ref, apply=True, lock_timeout_ms=300)
        blocker.rollback()
    finally:
        blocker.close()
    assert not result.ok and "waited longer than lock_timeout_ms=300" in result.checks[0].summary
    assert state(db.dsn) == before


def test_obsolete_table_is_dropped_only_when_destructive_is_allowed(agentops_db):
    db = agentops_db("current", ledger=True)
    query(db.dsn, migration_sql("20250711235412").split("CREATE TABLE public.billing_periods")[0])
    query(db.dsn, "INSERT INTO public.org_usage_tracking (org_id, usage_type, period_start, period_end) "
                  "VALUES (%s, 'spans', now(), now())", (db.seed.org_id,))
    report = drift_report(db.dsn_ref)
    assert [f.check_id for f in report.findings] == ["drift.org_usage_tracking"]
    kept = run_repair(db.dsn_ref, apply=True)
    assert kept.ok and not kept.changed
    skipped = next(c for c in kept.checks if c.id == "repair.skipped.org_usage_tracking")
    assert "-p apply true -p allow_destructive true" in skipped.remedy and "=True" not in skipped.remedy
    assert query(db.dsn, "SELECT count(*) FROM public.org_usage_tracking") == [(1,)]
    dropped = run_repair(db.dsn_ref, apply=True, allow_destructive=True)
    assert dropped.ok and dropped.changed
    assert query(db.dsn, "SELECT to_regclass('public.org_usage_tracking')") == [(None,)]
    assert next(c for c in dropped.checks if c.id == "repair.rows.public.org_usage_tracking").status.value == "warn"


def test_deployments_created_in_public_are_moved_with_their_rows(agentops_db):
    db = agentops_db("invites_fixed")
    query(db.dsn, migration_sql("20250708125448"))
    query(db.dsn, "INSERT INTO public.deployments (project_id, image_id) VALUES (%s, 'img-1')", (db.seed.project_id,))
    report = drift_report(db.dsn_ref)
    assert report.finding("drift.deploy.deployments").legacy["name"] == "public.deployments"
    result = run_repair(db.dsn_ref, apply=True)
    assert result.ok
    assert any(s.action == "move_table" for s in result.plan.steps)
    assert query(db.dsn, "SELECT image_id FROM deploy.deployments") == [("img-1",)]
    assert drift_report(db.dsn_ref).clean


def test_non_owner_role_gets_a_clear_failed_check(agentops_db, pg_role, pg_dsn_ref):
    db = agentops_db("early")
    name, password = pg_role()
    query(db.dsn, f'GRANT USAGE ON SCHEMA public, auth TO "{name}"')
    query(db.dsn, f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{name}"')
    ref = pg_dsn_ref(db.dsn_for(name, password))
    before = state(db.dsn)
    for apply in (False, True):
        result = run_repair(ref, apply=apply)
        assert not result.ok and not result.changed
        check = next(c for c in result.checks if c.id == "repair.privileges")
        assert "ownership of public.org_invites (owned by postgres)" in check.summary
        assert "owner" in check.remedy
        text = repr([c.to_dict() for c in result.checks]) + result.sql
        assert password not in text
    assert state(db.dsn) == before
