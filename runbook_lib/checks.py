"""Check results: what every runbook step reports (shown by :mod:`runbook_lib.display`, recorded for the runner)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any

from .secrets import redact

__all__ = ["CHECKS_MIME", "Check", "Severity", "Status", "found_then_repaired", "verdict_of"]

CHECKS_MIME = "application/vnd.agentops-runbook.checks+json"


class Status(str, Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"

    @property
    def symbol(self) -> str:
        return {"pass": "✔", "warn": "⚠", "fail": "✘", "error": "‼", "skip": "–"}[self.value]


class Severity(str, Enum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"


@dataclass(frozen=True)
class Check:
    """One check result. Checks return these; they never raise for an expected failure."""

    id: str
    title: str
    status: Status
    severity: Severity = Severity.MAJOR
    summary: str = ""
    evidence: Any = field(default_factory=dict)
    remedy: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "severity", Severity(self.severity))
        json.dumps(self.evidence, default=str)  # evidence must be JSON-serialisable

    # Constructors that read well at call sites.
    @classmethod
    def passed(cls, id: str, title: str, summary: str = "", **kw: Any) -> Check:
        return cls(id, title, Status.PASS, summary=summary, **kw)

    @classmethod
    def warned(cls, id: str, title: str, summary: str, remedy: str = "", **kw: Any) -> Check:
        return cls(id, title, Status.WARN, summary=summary, remedy=remedy, **kw)

    @classmethod
    def failed(cls, id: str, title: str, summary: str, remedy: str = "", **kw: Any) -> Check:
        return cls(id, title, Status.FAIL, summary=summary, remedy=remedy, **kw)

    @classmethod
    def errored(cls, id: str, title: str, summary: str, remedy: str = "", **kw: Any) -> Check:
        return cls(id, title, Status.ERROR, summary=summary, remedy=remedy, **kw)

    @classmethod
    def skipped(cls, id: str, title: str, reason: str, **kw: Any) -> Check:
        return cls(id, title, Status.SKIP, severity=kw.pop("severity", Severity.MINOR), summary=reason, **kw)

    @classmethod
    def from_error(cls, id: str, title: str, exc: BaseException, *, status: Status | str = Status.FAIL,
                   severity: Severity | str = Severity.MAJOR, more_remedy: str = "",
                   evidence: Any = None) -> Check:
        """The check for an expected error: its message as the summary, its ``hint`` (plus
        ``more_remedy``) as the remedy, known secrets redacted from both. Errors outside the
        :class:`~runbook_lib.errors.RunbookError` tree give their first line. A ``status_code``
        (services) joins the evidence."""
        message = getattr(exc, "message", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        remedy = " ".join(p for p in ((getattr(exc, "hint", None) or "").strip(), more_remedy.strip()) if p)
        data = dict(evidence or {})
        if hasattr(exc, "status_code"):
            data = {"status_code": exc.status_code, **data}
        return cls(id, title, Status(status), severity=Severity(severity), summary=redact(message),
                   remedy=redact(remedy), evidence=json.loads(redact(json.dumps(data, default=str))))

    @property
    def ok(self) -> bool:
        return self.status in (Status.PASS, Status.WARN, Status.SKIP)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the run record's check shape), with known secrets redacted."""
        data = asdict(self)
        data["status"] = self.status.value
        data["severity"] = self.severity.value
        return json.loads(redact(json.dumps(data, default=str)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Check:
        return cls(**{k: data[k] for k in ("id", "title", "status", "severity", "summary", "evidence", "remedy")})


def verdict_of(checks: Iterable[Check]) -> str:
    """``failed`` when any check failed or errored; ``skipped`` when there are no checks or every one
    was skipped (nothing was checked, so nothing may read as passed); else ``passed``."""
    items = list(checks)
    if any(c.status in (Status.FAIL, Status.ERROR) for c in items):
        return "failed"
    if all(c.status is Status.SKIP for c in items):  # vacuously true for no checks at all
        return "skipped"
    return "passed"


def found_then_repaired(check: Check, *, warnings: bool = False) -> Check:
    """A problem a repair in the same run fixed, as it reads in that run's report: ``pass``, "found, then
    repaired: …", no remedy, evidence kept. Call it only for problems the state read again after the repair
    no longer shows. A check that did not fail (nor warn, with ``warnings``: a gap the repair also closes)
    is returned as is."""
    if check.status is not Status.FAIL and not (warnings and check.status is Status.WARN):
        return check
    return replace(check, status=Status.PASS, summary=f"found, then repaired: {check.summary}", remedy="")
