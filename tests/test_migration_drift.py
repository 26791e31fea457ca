"""Drift report: the live catalog vs the expected schema, the ledger and a migrations checkout."""

from __future__ import annotations

import psycopg
import pytest

from runbook_lib.db.catalog import snapshot
from runbook_lib.db.drift import drift_report, read_migrations_dir
from runbook_lib.db.expected import load_expected_schema
from runbook_lib.db.sqltext import normalise_statement, split_statements
from runbook_lib.sandbox.agentops_db import BASE_MIGRATIONS, LATE_MIGRATIONS, migration_sql

ORG_INVITES_FIX = {
    "drift.org_invites.inviter_id", "drift.org_invites.invitee_email", "drift.org_invites.created_at",
    "drift.org_invites.org_invites_pkey", "drift.org_invites.org_invites_inviter_id_fkey",
    "drift.org_invites.idx_org_invites_inviter_id", "drift.org_invites.idx_org_invites_invitee_email",
}
SUBSCRIPTION = {"drift.orgs.subscription_id"}
AFTER_INVITES = {
    "drift.projects.user_callback_url",                                                    # 20250708125448
    "drift.schema.deploy", "drift.deploy.projects", "drift.deploy.deployments",           # 20250710120000
    "drift.user_orgs.is_paid", "drift.user_orgs.idx_user_orgs_is_paid",                   # 20250711231118
    "drift.billing_audit_logs", "drift.webhook_events",
    "drift.billing_periods",                                                               # 20250711235412
    "drift.deploy.projects.pack_name",                                                     # 20250728000000
}
EXPECTED_FINDINGS = {
    "early": ORG_INVITES_FIX | SUBSCRIPTION | AFTER_INVITES,
    "invites_fixed": SUBSCRIPTION | AFTER_INVITES,
    "field_guide": AFTER_INVITES,
    "current": set(),
}

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("ledger", [False, True], ids=["no-ledger", "ledger"])
@pytest.mark.parametrize("level", list(EXPECTED_FINDINGS))
def test_drift_names_exactly_the_missing_objects(agentops_db, level, ledger):
    db = agentops_db(level, ledger=ledger)
    report = drift_report(db.dsn_ref)
    assert {f.check_id for f in report.findings} == EXPECTED_FINDINGS[level]
    failing = {c.id for c in report.checks if c.status.value == "fail" and c.id.startswith("drift.")
               and not c.id.startswith(("drift.ledger", "drift.level"))}
    assert failing == EXPECTED_FINDINGS[level]
    for check in report.checks:
        if check.id in EXPECTED_FINDINGS[level]:
            assert check.evidence["version"] in LATE_MIGRATIONS and check.remedy
    assert report.clean is (level == "current")


def test_findings_are_grouped_by_version_and_level_sentence(agentops_db):
    report = drift_report(agentops_db("field_guide").dsn_ref)
    grouped = report.findings_by_version()
    assert list(grouped) == sorted(grouped)
    assert "20250620000000" not in grouped
    assert {f.check_id for f in grouped["20250711231118"]} == {
        "drift.user_orgs.is_paid", "drift.user_orgs.idx_user_orgs_is_paid", "drift.billing_audit_logs",
        "drift.webhook_events"}
    assert report.version_status["20250711231118"] == "partial"  # orgs.subscription_id is there
    level = next(c for c in report.checks if c.id == "drift.level")
    assert level.evidence["versions"]["20250711231118"] == "partial"
    assert all(type(s) is str for s in level.evidence["versions"].values())  # plain words in the record
    assert {type(c.evidence["problem"]) for c in report.checks if "problem" in c.evidence} == {str}
    assert report.level_sentence.startswith("Effects of migrations up to 20250620000000 (fix_org_invites) present")
    assert "20250711231118 (add_per_seat_billing) partly applied" in report.level_sentence
    assert "20250712220000 (cleanup_usage_tracking)" in report.level_sentence  # not applied either
    frame = report.to_frame()
    assert list(frame["version"]) == sorted(frame["version"])


def test_early_org_invites_findings_point_at_the_old_shape(agentops_db):
    report = drift_report(agentops_db("early").dsn_ref)
    inviter = report.finding("drift.org_invites.inviter_id")
    assert inviter.legacy["name"] == "user_id" and inviter.object.version == "20250620000000"
    email = report.finding("drift.org_invites.invitee_email")
    assert email.legacy["name"] == "inviter"
    pkey = report.finding("drift.org_invites.org_invites_pkey")
    assert pkey.problem == "differs" and pkey.live["columns"] == ["user_id", "org_id"]
    fkey = report.finding("drift.org_invites.org_invites_inviter_id_fkey")
    assert fkey.legacy["name"] == "org_invites_users_id_fkey"
    severities = {c.id: c.severity.value for c in report.checks}
    assert severities["drift.user_orgs.is_paid"] == "critical"           # the auth query selects it
    assert severities["drift.webhook_events"] == "major"


def test_absent_ledger_is_a_finding_not_an_error(agentops_db):
    report = drift_report(agentops_db("current").dsn_ref)
    ledger = next(c for c in report.checks if c.id == "drift.ledger")
    assert ledger.status.value == "warn" and "supabase migration repair" in ledger.remedy
    assert not report.ledger.exists


def test_ledger_disagreements(agentops_db):
    db = agentops_db("field_guide", ledger=True)
    report = drift_report(db.dsn_ref)
    by_id = {c.id: c for c in report.checks}
    # The hand fix applied 20250620's effects without recording them: a push would re-run the file.
    assert by_id["drift.ledger.20250620000000"].status.value == "warn"
    # A ledger row whose effects are missing is a failure.
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO supabase_migrations.schema_migrations (version, name) "
                     "VALUES ('20250711231118', 'add_per_seat_billing')")
    report = drift_report(db.dsn_ref)
    check = next(c for c in report.checks if c.id == "drift.ledger.20250711231118")
    assert check.status.value == "fail" and "public.user_orgs.is_paid" in check.summary


def _write_checkout(tmp_path, versions):
    folder = tmp_path / "app" / "supabase" / "migrations"
    folder.mkdir(parents=True)
    for version, name in BASE_MIGRATIONS.items():  # stand-ins: the ledger keeps no statements for these
        (folder / f"{version}_{name}.sql").write_text(f"-- upstream {name}\nSELECT 1;\n")
    for version in versions:
        (folder / f"{version}_{LATE_MIGRATIONS[version]}.sql").write_text(migration_sql(version))
    return folder


def test_three_way_report_with_a_checkout(agentops_db, tmp_path):
    db = agentops_db("current", ledger=True)
    versions = list(LATE_MIGRATIONS)
    folder = _write_checkout(tmp_path, versions[:-1])            # checkout lacks 20250728000000
    changed = folder / f"20250711231118_{LATE_MIGRATIONS['20250711231118']}.sql"
    changed.write_text(changed.read_text().replace("varchar(50)", "varchar(80)"))
    (folder / "20260101000000_future_change.sql").write_text("ALTER TABLE public.orgs ADD COLUMN x int;")
    report = drift_report(db.dsn_ref, migrations_dir=tmp_path)  # the repository root is accepted
    by_id = {c.id: c for c in report.checks}
    assert by_id["drift.files.20250728000000.no_file"].status.value == "warn"
    stmt = by_id["drift.files.20250711231118.statements"]
    assert stmt.status.value == "warn" and "varchar(80)" in stmt.evidence["file"]
    assert by_id["drift.files.20260101000000.unmodeled"].status.value == "warn"
    assert "drift.files.20250620000000.statements" not in by_id       # unchanged files agree
    # A base-version file is neither unmodeled nor compared (the ledger stores no statements for it).
    assert not any(".2024" in cid for cid in by_id)


def test_checkout_files_missing_from_the_ledger(agentops_db, tmp_path):
    db = agentops_db("invites_fixed", ledger=True)
    _write_checkout(tmp_path, list(LATE_MIGRATIONS))
    report = drift_report(db.dsn_ref, migrations_dir=tmp_path / "app" / "supabase" / "migrations")
    ids = {c.id for c in report.checks}
    assert "drift.files.20250708125448.unrecorded" in ids
    assert "drift.files.20250620000000.unrecorded" not in ids        # it is in the ledger
    bad = drift_report(db.dsn_ref, migrations_dir=tmp_path / "nowhere")
    assert next(c for c in bad.checks if c.id == "drift.files").status.value == "fail"


def test_snapshot_query_count_is_constant(agentops_db):
    db = agentops_db("current")
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        small = snapshot(conn)
        conn.execute("DO $$ BEGIN FOR i IN 1..60 LOOP EXECUTE format("
                     "'CREATE TABLE public.pad_%s (id int PRIMARY KEY, v text UNIQUE)', i); END LOOP; END $$")
        big = snapshot(conn)
    assert small.queries == big.queries == 7
    assert len(big.tables) == len(small.tables) + 60


def test_expected_schema_tags_every_object_with_a_version():
    expected = load_expected_schema()
    assert all(len(o.version) == 14 and o.version.isdigit() for o in expected.objects)
    labels = {o.label: o.version for o in expected.objects}
    assert labels["public.org_invites.inviter_id"] == "20250620000000"
    assert labels["public.user_orgs.is_paid"] == "20250711231118"
    assert labels["public.projects.user_callback_url"] == "20250708125448"
    assert labels["deploy.projects.pack_name"] == "20250728000000"
    assert {"public.billing_periods", "public.billing_audit_logs", "public.webhook_events", "deploy.projects",
            "public.orgs", "public.projects", "public.user_orgs", "public.org_invites", "public.users"} <= set(labels)


def test_split_statements_respects_quotes_and_bodies(tmp_path):
    script = """-- header; not a statement
    CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
    INSERT INTO t VALUES ('a;b', E'c\\';d'); /* block; comment */
    DO $$ BEGIN PERFORM 1; END $$;
    """
    parts = split_statements(script)
    assert len(parts) == 3
    assert parts[1].startswith("INSERT") and "'a;b'" in parts[1]
    assert normalise_statement("SELECT  1 -- c\n  FROM t;") == "SELECT 1 FROM t"
    (tmp_path / "20250101000000_x.sql").write_text(script)
    (tmp_path / "README.md").write_text("not a migration")
    files = read_migrations_dir(tmp_path)
    assert [(f.version, f.name, len(f.statements)) for f in files] == [("20250101000000", "x", 3)]
