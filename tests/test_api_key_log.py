"""The project key in a log: counted in every spelling, never shown."""

from __future__ import annotations

import json
import urllib.parse
import uuid

import pytest

from runbook_lib.checks import Status
from runbook_lib.db import api_key_log
from runbook_lib.errors import ParameterError, SecretReferenceError


@pytest.fixture
def key(monkeypatch):
    value = str(uuid.uuid4())
    monkeypatch.setenv("PLANTED_PROJECT_KEY", value)
    return value


def _log(tmp_path, lines):
    path = tmp_path / "api.log"
    path.write_bytes(b"\n".join(line.encode() if isinstance(line, str) else line for line in lines) + b"\n")
    return path


def test_every_spelling_is_counted_and_none_is_shown(tmp_path, key):
    other = str(uuid.uuid4())
    lines = [
        "INFO started",
        f"sqlalchemy.exc.ProgrammingError ... [parameters: {{'api_key_1': UUID('{key}')}}]",  # 2
        f"GET /v3/auth/token api_key={urllib.parse.quote(key.upper())}",  # 3: upper case
        f"hex {uuid.UUID(key).hex} in a dump",  # 4
        f"UPPER {key.upper()}",  # 5
        f"another project's key {other}",  # 6
        b"\xff\xfe binary junk " + key.encode(),  # 7
        "INFO done",
    ]
    path = _log(tmp_path, lines)
    found = api_key_log.key_in_log(path, "env:PLANTED_PROJECT_KEY")
    assert (found.lines_scanned, found.matching_lines, found.first_lines) == (8, 5, (2, 3, 4, 5, 7))
    assert {"as given", "upper case", "UUID without hyphens"} <= set(found.forms_seen)
    check = api_key_log.key_log_check(path, "env:PLANTED_PROJECT_KEY")
    assert check.status is Status.FAIL and "rotate_project_api_key" in check.remedy
    text = json.dumps(check.to_dict()) + repr(found) + check.summary + check.remedy + json.dumps(check.evidence)
    for form in api_key_log.key_forms(key).values():
        assert form not in text


def test_a_clean_log_passes(tmp_path, key):
    path = _log(tmp_path, ["INFO ok", "POST /v3/auth/token 200"])
    check = api_key_log.key_log_check(path, "env:PLANTED_PROJECT_KEY")
    assert check.status is Status.PASS and check.evidence["matching_lines"] == 0


def test_refusals_never_echo_the_key(tmp_path, key):
    with pytest.raises(SecretReferenceError) as raw:
        api_key_log.key_in_log(_log(tmp_path, ["x"]), key)  # a value, not a reference
    assert key not in str(raw.value)
    with pytest.raises(ParameterError, match="does not exist") as missing:
        api_key_log.key_in_log(tmp_path / "nope.log", "env:PLANTED_PROJECT_KEY")
    assert key not in str(missing.value)


def test_non_uuid_keys_get_the_plain_spellings():
    forms = api_key_log.key_forms("Ab/c d")
    assert forms == {"as given": "Ab/c d", "lower case": "ab/c d", "upper case": "AB/C D",
                     "percent-encoded": "Ab%2Fc%20d"}


def test_exposure_checks_follow_drift_and_token_failures(tmp_path, key):
    assert api_key_log.key_exposure_checks() == []
    assert api_key_log.key_exposure_checks(token_status=401) == []
    (warn,) = api_key_log.key_exposure_checks(drift_found=True)
    assert warn.status is Status.WARN and "10_migration found schema drift" in warn.summary
    assert "pass the API's log path" in warn.remedy
    path = _log(tmp_path, [f"[parameters: {{'api_key_1': UUID('{key}')}}]"] * 3)
    warn, counted = api_key_log.key_exposure_checks(token_status=500, log_path=path,
                                                    api_key="env:PLANTED_PROJECT_KEY")
    assert "HTTP 500" in warn.summary and counted.evidence["matching_lines"] == 3
    (missing,) = api_key_log.key_exposure_checks(log_path=tmp_path / "nope", api_key="env:PLANTED_PROJECT_KEY")
    assert missing.status is Status.FAIL and key not in json.dumps(missing.to_dict())
