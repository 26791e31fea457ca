"""Check results: what every runbook step reports, rendered as a table and recorded for the runner."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from .secrets import redact

__all__ = ["CHECKS_MIME", "Check", "Severity", "Status", "display_checks", "verdict_of", "checks_table"]

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
    """``failed`` when any check failed or errored, else ``passed``."""
    return "failed" if any(c.status in (Status.FAIL, Status.ERROR) for c in checks) else "passed"


def _cell_text(text: str) -> str:
    """Escaped text; multi-line text (YAML snippets, SQL) keeps its lines in a <pre> block."""
    if "\n" in text.strip():
        return f'<pre style="white-space:pre-wrap;margin:0">{html.escape(text.strip())}</pre>'
    return html.escape(text)


def checks_table(checks: Sequence[Check]) -> str:
    """An HTML table of checks: status symbol, title, summary, remedy."""
    rows = []
    for c in checks:
        rows.append(
            f'<tr class="check-{c.status.value}"><td title="{c.status.value}">{c.status.symbol} {c.status.value}</td>'
            f"<td>{html.escape(c.severity.value)}</td><td><b>{html.escape(c.title)}</b><br>"
            f"<code>{html.escape(c.id)}</code></td><td>{_cell_text(c.summary)}</td>"
            f"<td>{_cell_text(c.remedy)}</td></tr>"
        )
    return (
        '<table class="runbook-checks"><thead><tr><th>status</th><th>severity</th><th>check</th>'
        "<th>summary</th><th>remedy</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _plain_table(checks: Sequence[Check]) -> str:
    lines = [f"{c.status.symbol} {c.status.value:5} {c.id}: {c.summary}" for c in checks]
    lines += [f"    fix ({c.id}): {c.remedy}" for c in checks if c.remedy and not c.ok]
    return "\n".join(lines)


def display_checks(checks: Sequence[Check] | Check, title: str | None = None, *, record: bool = True) -> None:
    """Show checks as a table in the notebook and, unless ``record=False``, record them machine-readably
    for the runner (a section may show checks that a later summary records, so each counts once)."""
    items = [checks] if isinstance(checks, Check) else list(checks)
    from IPython.display import display

    heading = f"<h4>{html.escape(title)}</h4>" if title else ""
    bundle: dict[str, Any] = {
        "text/plain": redact(_plain_table(items)),
        "text/html": redact(heading + checks_table(items)),
    }
    if record:
        bundle[CHECKS_MIME] = [c.to_dict() for c in items]
    display(bundle, raw=True)
