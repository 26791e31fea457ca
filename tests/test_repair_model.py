"""Repair model and drift: mode, step action, step status, apply phase and drift status are enums
that read, print and serialise as the words the run record and the report already show."""

from __future__ import annotations

import json

import pytest

from runbook_lib.checks import Check
from runbook_lib.db.drift import DriftStatus
from runbook_lib.db.repair import RepairMode, RepairResult, StepAction, StepOutcome, StepStatus
from runbook_lib.db.repair.apply import ApplyPhase, apply_error_check
from runbook_lib.display import table_html, table_text


@pytest.mark.parametrize("member", [*RepairMode, *StepAction, *StepStatus, *ApplyPhase, *DriftStatus],
                         ids=lambda m: f"{type(m).__name__}.{m.name}")
def test_a_member_prints_formats_and_serialises_as_its_value(member):
    assert str(member) == f"{member}" == "%s" % member == "{}".format(member) == member.value  # noqa: UP031, UP032 (each way of formatting)
    assert f"{member:>20}" == f"{member.value:>20}"
    assert json.dumps({"k": member, "l": [member]}) == json.dumps({"k": member.value, "l": [member.value]})
    assert member == member.value and type(member)(member.value) is member
    assert hash(member) == hash(member.value) and {member.value: 1}[member] == 1  # a dict of words finds it


def test_the_words_are_the_ones_records_already_hold():
    assert [m.value for m in RepairMode] == ["dry_run", "apply"]
    assert [m.value for m in StepStatus] == ["applied", "already done"]
    assert {m.value for m in StepAction} == {
        "create_schema", "create_enum", "move_table", "create_table", "rename_column", "add_column", "alter_column",
        "backfill", "primary_key", "unique", "rename_constraint", "foreign_key", "index", "drop_table"}
    assert ApplyPhase.ADVISORY_LOCK.value == "advisory lock" and ApplyPhase.COMMIT.value == "commit"
    assert [m.value for m in DriftStatus] == ["present", "missing", "differs", "covered", "obsolete", "partial"]


def test_actions_are_declared_in_the_order_they_run_within_a_version():
    ranks = [a.rank for a in StepAction]
    assert ranks == sorted(ranks)
    assert StepAction.CREATE_SCHEMA.rank < StepAction.CREATE_TABLE.rank < StepAction.ADD_COLUMN.rank
    assert StepAction.BACKFILL.rank < StepAction.PRIMARY_KEY.rank < StepAction.INDEX.rank < StepAction.DROP_TABLE.rank
    # a renamed and an added foreign key share a rank: within a version they are ordered by step id
    assert StepAction.RENAME_CONSTRAINT.rank == StepAction.FOREIGN_KEY.rank
    assert {a for a in StepAction if a.creates} == {StepAction.CREATE_SCHEMA, StepAction.CREATE_ENUM,
                                                    StepAction.CREATE_TABLE}


def test_outcomes_and_results_take_the_words_and_refuse_others():
    outcome = StepOutcome("20250711231118.user_orgs.is_paid.add", "applied", 1.5)
    assert outcome.status is StepStatus.APPLIED
    row = outcome.as_row()
    assert row == {"step_id": "20250711231118.user_orgs.is_paid.add", "status": "applied", "duration_ms": 1.5}
    assert type(row["status"]) is str
    with pytest.raises(ValueError):
        StepOutcome("x", "skipped")
    result = RepairResult("dry_run", True, False, None, "", [Check.passed("repair.plan", "Repair plan")])
    assert result.mode is RepairMode.DRY_RUN and result.message == ""
    with pytest.raises(ValueError):
        RepairResult("apply_destructive", True, False, None, "", [])


def test_outcome_tables_show_the_words():
    rows = [StepOutcome("a", StepStatus.APPLIED, 2.0).__dict__, StepOutcome("b", StepStatus.ALREADY_DONE).__dict__]
    for text in (table_html(rows), table_text(rows)):
        assert "already done" in text and "applied" in text and "StepStatus" not in text


def test_an_error_check_names_the_phase_as_a_plain_word():
    import psycopg

    check = apply_error_check(psycopg.OperationalError("server closed the connection"), None, ApplyPhase.COMMIT,
                              5000, 60000)
    assert check.status.value == "error" and "while committing" in check.summary
    assert check.evidence["phase"] == "commit" and type(check.evidence["phase"]) is str
    check = apply_error_check(psycopg.OperationalError("server closed the connection"), None, ApplyPhase.PLANNING,
                              5000, 60000)
    assert check.status.value == "fail" and "during planning (" in check.summary
