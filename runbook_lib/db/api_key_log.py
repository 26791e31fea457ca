"""Find a project API key in a log without showing it.

While the AgentOps database schema drifts, upstream's API fails every ``/v3/auth/token`` with a
SQLAlchemy error whose text ends ``[parameters: {'api_key_1': UUID('…')}]``: the project key, in
the clear, on every failed auth. :func:`key_in_log` counts the lines of a log that contain the key
in any of its spellings (as given, lower/upper case, the UUID without hyphens, percent-encoded) and
reports only counts, line numbers and which spellings matched; :func:`key_log_check` turns that into
a check whose remedy says to rotate the key and update every consumer.
"""

from __future__ import annotations

import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..checks import Check, Severity
from ..errors import ParameterError
from ..secrets import SecretRef

__all__ = ["ROTATE_REMEDY", "KeyInLog", "key_exposure_checks", "key_forms", "key_in_log", "key_log_check"]

#: What to do once a key has been written to a log.
ROTATE_REMEDY = ("rotate the project's API key: in the AgentOps dashboard (POST /opsboard/projects/<id>/regenerate-key "
                 "with a session) or with SQL: SELECT rotate_project_api_key('<project_id>'); then update every "
                 "consumer of the old key (LiteLLM's AGENTOPS_API_KEY, SDK clients, CI secrets) "
                 "and restrict or purge the log that holds it")


def key_forms(key: str) -> dict[str, str]:
    """The spellings of ``key`` a log may hold, by label (labels are safe to show, values are not)."""
    forms = {"as given": key, "lower case": key.lower(), "upper case": key.upper()}
    try:
        parsed = uuid.UUID(key)
    except ValueError:
        parsed = None
    if parsed is not None:
        forms["UUID canonical"] = str(parsed)
        forms["UUID without hyphens"] = parsed.hex
        forms["UUID without hyphens, upper case"] = parsed.hex.upper()
    quoted = urllib.parse.quote(key, safe="")
    if quoted != key:
        forms["percent-encoded"] = quoted
    seen: dict[str, str] = {}
    for label, value in forms.items():
        if value not in seen.values():
            seen[label] = value
    return seen


@dataclass(frozen=True)
class KeyInLog:
    """How often the key appears in a log: matching lines, their first numbers, the spellings seen."""

    path: str
    lines_scanned: int
    matching_lines: int
    first_lines: tuple[int, ...]
    forms_seen: tuple[str, ...]


def key_in_log(log_path: str | Path, api_key: str | SecretRef, *, keep_lines: int = 10) -> KeyInLog:
    """Count the lines of ``log_path`` that contain ``api_key`` (a secret reference) in any spelling."""
    key = SecretRef.parse(api_key, name="api_key").resolve() if isinstance(api_key, (str, SecretRef)) else None
    if not key:
        raise ParameterError("api_key must be a secret reference", hint="pass env:NAME or file:PATH")
    path = Path(log_path)
    if not path.is_file():
        raise ParameterError(f"log file {path} does not exist", hint="pass the path of the AgentOps API's log")
    forms = {label: value.encode() for label, value in key_forms(key).items()}
    scanned = matching = 0
    first: list[int] = []
    seen: dict[str, None] = {}
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            scanned = number
            hits = [label for label, value in forms.items() if value in line]
            if hits:
                matching += 1
                if len(first) < keep_lines:
                    first.append(number)
                for label in hits:
                    seen.setdefault(label, None)
    return KeyInLog(str(path), scanned, matching, tuple(first), tuple(seen))


def key_log_check(log_path: str | Path, api_key: str | SecretRef) -> Check:
    """A check: pass when the log never holds the key, fail (with the rotation remedy) when it does."""
    title = "project API key in the API's log"
    found = key_in_log(log_path, api_key)
    evidence = {"log": found.path, "lines_scanned": found.lines_scanned, "matching_lines": found.matching_lines,
                "first_line_numbers": list(found.first_lines), "spellings": list(found.forms_seen)}
    if not found.matching_lines:
        return Check.passed("api_key.log", title, f"the key is in none of {found.lines_scanned} lines",
                            evidence=evidence)
    return Check.failed("api_key.log", title,
                        f"the key is in {found.matching_lines} of {found.lines_scanned} lines of {found.path} "
                        f"(first at line {found.first_lines[0]}; value not shown)",
                        remedy=ROTATE_REMEDY, evidence=evidence, severity=Severity.CRITICAL)


def key_exposure_checks(*, drift_found: bool = False, token_status: int | None = None,
                        log_path: str | Path | None = None, api_key: str | SecretRef | None = None) -> list[Check]:
    """What to say about the key once auth may have failed on a drifted schema.

    ``drift_found`` (10_migration found drift) or ``token_status == 500`` (00_setup's token request)
    give a warning with the rotation remedy: upstream's API has then logged the key with every failed
    auth. With ``log_path`` and ``api_key`` the log is scanned (:func:`key_log_check`).
    """
    checks = []
    if drift_found or token_status == 500:
        why = "10_migration found schema drift" if drift_found else "the token request failed with HTTP 500"
        checks.append(Check.warned("api_key.exposure", "project API key written to the API's log",
                                   f"{why}: upstream's API logs the project key with every failed auth while the "
                                   "schema drifts ([parameters: {'api_key_1': UUID('…')}])",
                                   remedy=ROTATE_REMEDY + ("" if log_path else "; pass the API's log path to count "
                                                           "the lines that hold it")))
    if log_path and api_key is not None:
        try:
            checks.append(key_log_check(log_path, api_key))
        except ParameterError as exc:
            checks.append(Check.from_error("api_key.log", "project API key in the API's log", exc))
    return checks
