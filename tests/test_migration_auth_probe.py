"""The API's auth query run against the database for an API key reference."""

from __future__ import annotations

import pytest

from runbook_lib.db.auth_probe import probe_auth_query
from tests.migration_helpers import query

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize(("level", "column"), [("early", "user_orgs_1.is_paid"),
                                               ("field_guide", "user_orgs_1.is_paid")])
def test_early_schema_fails_with_the_missing_column(agentops_db, level, column):
    db = agentops_db(level)
    result = probe_auth_query(db.dsn_ref, db.api_key_ref)
    assert not result.ok and result.missing_column == column
    assert "UndefinedColumn" in result.checks[0].summary and result.checks[0].remedy


def test_next_missing_column_after_is_paid(agentops_db):
    db = agentops_db("early")
    query(db.dsn, "ALTER TABLE public.user_orgs ADD COLUMN is_paid boolean")
    result = probe_auth_query(db.dsn_ref, db.api_key_ref)
    assert result.missing_column == "org_invites_1.inviter_id"


def test_current_schema_passes_with_project_and_plan(agentops_db):
    db = agentops_db("current")
    result = probe_auth_query(db.dsn_ref, db.api_key_ref)
    assert result.ok and result.project_id == db.seed.project_id and result.org_id == db.seed.org_id
    assert result.prem_status == "pro"
    assert [c.status.value for c in result.checks] == ["pass", "pass"]
    assert result.details["members"] == 2 and result.details["invites"] == 2
    assert db.seed.api_key not in repr([c.to_dict() for c in result.checks])


def test_free_org_warns_and_set_prem_status_needs_apply(agentops_db):
    db = agentops_db("current", prem_status="free")
    result = probe_auth_query(db.dsn_ref, db.api_key_ref)
    plan = result.checks[1]
    assert plan.id == "auth.prem_status" and plan.status.value == "warn" and "3 days" in plan.summary
    dry = probe_auth_query(db.dsn_ref, db.api_key_ref, set_prem_status="enterprise")
    assert "dry run" in dry.checks[1].summary
    assert query(db.dsn, "SELECT prem_status::text FROM public.orgs WHERE id = %s", (db.seed.org_id,)) == [("free",)]
    applied = probe_auth_query(db.dsn_ref, db.api_key_ref, set_prem_status="enterprise", apply=True)
    assert applied.checks[1].status.value == "pass" and applied.prem_status == "enterprise"
    assert query(db.dsn, "SELECT prem_status::text FROM public.orgs WHERE id = %s", (db.seed.org_id,)) == \
        [("enterprise",)]
    bad = probe_auth_query(db.dsn_ref, db.api_key_ref, set_prem_status="platinum", apply=True)
    assert bad.checks[1].status.value == "fail"


def test_unknown_or_malformed_api_key(agentops_db, pg_dsn_ref):
    db = agentops_db("current")
    unknown = probe_auth_query(db.dsn_ref, pg_dsn_ref("00000000-0000-4000-8000-000000000000"))
    assert not unknown.ok and "no project has this API key" in unknown.checks[0].summary
    malformed = probe_auth_query(db.dsn_ref, pg_dsn_ref("not-a-uuid-key"))
    assert not malformed.ok and "not a UUID" in malformed.checks[0].summary
