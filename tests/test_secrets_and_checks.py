"""Secret references, redaction, token-shape scanning and the check model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbook_lib import Check, SecretRef, SecretReferenceError, Status, redact, verdict_of
from runbook_lib.leaks import redact_text
from runbook_lib.secrets import remember_secret


def test_env_and_file_references_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RB_KEY", "value-from-env")
    assert SecretRef.parse("env:RB_KEY").resolve() == "value-from-env"
    secret_file = tmp_path / "key"
    secret_file.write_text("value-from-file\n")
    secret_file.chmod(0o600)
    ref = SecretRef.parse(f"file:{secret_file}")
    assert ref.resolve() == "value-from-file" and ref.file_is_private() is True
    secret_file.chmod(0o644)
    assert ref.file_is_private() is False
    assert str(ref) == f"file:{secret_file}" and "value" not in repr(ref)


def test_a_literal_is_refused_without_being_echoed() -> None:
    with pytest.raises(SecretReferenceError) as info:
        SecretRef.parse("sk-literal-master-key", name="litellm_master_key")
    text = str(info.value)
    assert "sk-literal-master-key" not in text
    assert "env:LITELLM_MASTER_KEY" in text and "file:PATH" in text


@pytest.mark.parametrize("reference", ["env:RB_SURELY_UNSET", "file:/nonexistent/secret"])
def test_unresolvable_references_say_what_to_do(reference: str) -> None:
    with pytest.raises(SecretReferenceError) as info:
        SecretRef.parse(reference).resolve()
    assert info.value.hint


def test_redact_removes_values_and_dsn_passwords() -> None:
    remember_secret("postgresql://app:pa55word-xyz@127.0.0.1:5432/db")
    text = redact("connecting as app:pa55word-xyz failed")
    assert "pa55word-xyz" not in text and "[REDACTED]" in text


def test_token_shapes_and_escaped_secrets_are_found() -> None:
    secret = 'quote"and\\slash'
    ipynb_text = json.dumps({"text": f"error {secret}"})
    cleaned, hits = redact_text(ipynb_text, [secret])
    assert hits == {"secret-value": 1} and "slash" not in cleaned
    cleaned, hits = redact_text("dsn postgresql://u:hunter2@h/db and sk-abcdef and task-abcdef", [])
    assert hits == {"dsn-password": 1, "sk-key": 1}
    assert "hunter2" not in cleaned and "task-abcdef" in cleaned


def test_check_model_and_verdict() -> None:
    ok = Check.passed("a", "A", "fine")
    warn = Check.warned("b", "B", "hmm", remedy="look")
    skip = Check.skipped("c", "C", "no URL given")
    assert verdict_of([ok, warn, skip]) == "passed"
    assert verdict_of([ok, Check.errored("d", "D", "boom")]) == "failed"
    assert skip.severity.value == "minor" and skip.status is Status.SKIP
    data = Check.failed("e", "E", "bad", remedy="fix", evidence={"rows": [1, 2]}).to_dict()
    assert data == {"id": "e", "title": "E", "status": "fail", "severity": "major", "summary": "bad",
                    "evidence": {"rows": [1, 2]}, "remedy": "fix"}
    assert Check.from_dict(data).evidence == {"rows": [1, 2]}
    from datetime import datetime, timezone
    from uuid import UUID

    stamped = Check.passed("g", "G", evidence={"at": datetime(2026, 1, 2, tzinfo=timezone.utc),
                                               "id": UUID(int=1)}).to_dict()
    assert stamped["evidence"] == {"at": "2026-01-02 00:00:00+00:00", "id": "00000000-0000-0000-0000-000000000001"}


def test_check_from_error_takes_message_and_hint_and_redacts_them() -> None:
    from runbook_lib.errors import DatabaseError, ServiceError
    from runbook_lib.secrets import remember_secret

    remember_secret("Fr0m-Err0r-Secret-77")
    exc = ServiceError("login with Fr0m-Err0r-Secret-77 refused", hint="rotate Fr0m-Err0r-Secret-77",
                       status_code=401)
    check = Check.from_error("svc.auth", "Service accepts the key", exc, more_remedy="then restart the proxy",
                             evidence={"url": "http://127.0.0.1:1"})
    assert check.status is Status.FAIL and check.severity.value == "major"
    assert "Fr0m-Err0r-Secret-77" not in json.dumps(check.to_dict()) + check.summary + check.remedy
    assert check.summary.startswith("login with ") and check.remedy.endswith("then restart the proxy")
    assert check.evidence == {"status_code": 401, "url": "http://127.0.0.1:1"}

    errored = Check.from_error("db.x", "X", DatabaseError("no route"), status="error", severity="critical")
    assert (errored.status, errored.severity.value, errored.remedy, errored.evidence) == (
        Status.ERROR, "critical", "", {})
    plain = Check.from_error("os.x", "X", OSError("disk full\nmore detail"))
    assert plain.summary == "disk full"
