"""10_migration end to end through the runner: dry run, apply, second run; no secret in any artifact."""

from __future__ import annotations

import pytest

from runbook_lib.commands import repair_schema_command
from runbook_lib.runner import run_notebooks
from tests.migration_helpers import state

pytestmark = pytest.mark.postgres


def _artifact_text(run_dir) -> str:
    return "\n".join(p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file())


def _ids(record) -> dict[str, str]:
    return {c["id"]: c["status"] for c in record.notebooks[0].checks}


def test_notebook_dry_run_apply_and_second_run(agentops_db, tmp_path):
    db = agentops_db("early", ledger=True, prem_status="free")
    params = {"database_url": db.dsn_ref, "agentops_api_key": db.api_key_ref}
    before = state(db.dsn)

    dry = run_notebooks(["10_migration"], params, out_dir=tmp_path)
    checks = _ids(dry)
    assert dry.verdict == "failed" and dry.exit_code == 1
    assert checks["drift.org_invites.inviter_id"] == "fail" and checks["repair.apply"] == "skip"
    assert checks["auth.query"] == "fail" and checks["migration.summary"] == "fail"
    summary = next(c for c in dry.notebooks[0].checks if c["id"] == "migration.summary")
    assert repair_schema_command() in summary["remedy"]  # the command to paste
    assert "apply=True" not in summary["remedy"]
    assert checks["api_key.exposure"] == "warn"  # drift: the API has logged the key with every failed auth
    assert state(db.dsn) == before
    html = (dry.run_dir / dry.notebooks[0].html).read_text()
    assert "ALTER TABLE" in html and "RENAME COLUMN" in html
    # the operator reads the CLI way or the parameter named neutrally, never Python's apply=True/False
    assert "apply=True" not in html and "apply=False" not in html and "-p apply true" in html

    applied = run_notebooks(["10_migration"], {**params, "apply": True}, out_dir=tmp_path)
    checks = _ids(applied)
    assert applied.verdict == "passed" and applied.exit_code == 0, checks
    assert checks["repair.apply"] == "pass" and checks["auth.query"] == "pass"
    assert checks["auth.prem_status"] == "warn"            # free org: a warning with the remedy
    assert checks["drift.level"] == "pass" and checks["repair.ledger"] == "pass"

    after = state(db.dsn)
    again = run_notebooks(["10_migration"], {**params, "apply": True}, out_dir=tmp_path)
    checks = _ids(again)
    assert again.verdict == "passed" and checks["drift.level"] == "pass"
    assert "api_key.exposure" not in checks  # no drift found: nothing to rotate for
    assert "nothing to do" in next(c for c in again.notebooks[0].checks if c["id"] == "repair.apply")["summary"]
    assert state(db.dsn) == after

    for record in (dry, applied, again):
        text = _artifact_text(record.run_dir)
        assert db.server.password not in text and db.seed.api_key not in text


def test_remedies_name_this_runs_params_file_quoted(agentops_db, tmp_path):
    """A run started with `-f "prod params.yaml"` gets remedies that paste with that file, not params.yaml."""
    import os
    import shlex

    import yaml

    from runbook_lib.commands import RUN_PARAMS_FILE_ENV

    db = agentops_db("early", ledger=True)
    params_file = tmp_path / "ops team" / "prod params.yaml"
    params_file.parent.mkdir()
    params_file.write_text(yaml.safe_dump({"database_url": db.dsn_ref, "agentops_api_key": db.api_key_ref}))
    record = run_notebooks(["10_migration"], params_file=str(params_file), out_dir=tmp_path / "out")
    assert record.verdict == "failed"
    wanted = f"runbook run 10_migration -f {shlex.quote(str(params_file))} -p apply true"
    assert shlex.quote(str(params_file)).startswith("'")  # the space made it quoted
    remedies = [c["remedy"] for c in record.notebooks[0].checks if c.get("remedy")]
    summary = next(c for c in record.notebooks[0].checks if c["id"] == "migration.summary")
    assert wanted in summary["remedy"]
    assert not any("-f params.yaml" in r for r in remedies), remedies
    assert sum(wanted in r for r in remedies) > 1  # the drift rows too
    assert wanted in (record.run_dir / record.notebooks[0].html).read_text().replace("&#x27;", "'")
    assert RUN_PARAMS_FILE_ENV not in os.environ  # the runner restores its environment


def test_key_in_the_apis_log_is_counted_never_shown(agentops_db, tmp_path):
    db = agentops_db("early")
    log = tmp_path / "api.log"
    log.write_text("INFO: started\n"
                   f"sqlalchemy.exc.ProgrammingError: column users_1.billing_email does not exist [parameters: "
                   f"{{'api_key_1': UUID('{db.seed.api_key}')}}]\n"
                   f"ERROR: Exception in ASGI application ... api_key={db.seed.api_key.upper()}\n"
                   "INFO: 127.0.0.1 - POST /v3/auth/token 500\n", encoding="utf-8")
    record = run_notebooks(["10_migration"], {"database_url": db.dsn_ref, "agentops_api_key": db.api_key_ref,
                                              "agentops_api_log": str(log)}, out_dir=tmp_path / "run")
    check = next(c for c in record.notebooks[0].checks if c["id"] == "api_key.log")
    assert check["status"] == "fail" and check["evidence"]["matching_lines"] == 2
    assert "rotate_project_api_key" in check["remedy"]
    text = _artifact_text(record.run_dir)
    assert db.seed.api_key not in text and db.seed.api_key.upper() not in text


def test_notebook_wrong_password_fails_cleanly(agentops_db, pg_dsn_ref, tmp_path):
    db = agentops_db("current")
    wrong = "Wrong-Password-0815"
    record = run_notebooks(["10_migration"], {"database_url": pg_dsn_ref(db.dsn_for("postgres", wrong))},
                           out_dir=tmp_path)
    checks = _ids(record)
    assert record.verdict == "failed" and checks["db.connection"] == "fail"
    assert checks["migration.summary"] == "skip"  # a consequence of the connection, named, not a second fail
    text = _artifact_text(record.run_dir)
    assert wrong not in text and db.server.password not in text
