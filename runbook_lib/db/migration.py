"""The 10_migration runbook's sections, callable from the notebook (and from tests).

:class:`MigrationRunbook` holds the notebook parameters and runs each section: connection,
drift report, repair plan, apply (or dry run), verification, summary. Every ``show_*`` method
displays its table/checks in the notebook and returns the checks it displayed, so each check
appears exactly once per run:

- dry run: the drift checks are shown in section 2 (the state is unchanged afterwards);
- apply: section 2 shows the findings as a table and section 5 shows the drift checks of the
  repaired database (the state the run leaves behind).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks import Check, Severity, display_checks
from ..secrets import redact
from .auth_probe import AuthProbeResult, probe_auth_query
from .connection import ServerInfo, connection_check
from .drift import DriftReport, drift_report
from .repair import RepairResult, run_repair

__all__ = ["MigrationRunbook"]


def _display(obj: Any) -> None:
    from IPython.display import display

    display(obj)


def _markdown(text: str) -> None:
    """A short note: markdown for JupyterLab, HTML and plain text for reports and logs."""
    import re

    from IPython.display import display

    code = re.match(r"^```(\w*)\n(.*)\n```$", text, re.S)
    if code:
        body = code.group(2)
        html_text = f'<pre class="runbook-sql"><code>{html.escape(body)}</code></pre>'
        plain = body
    else:
        escaped = html.escape(text)
        escaped = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)
        escaped = re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)
        escaped = re.sub(r"(?<![*\w])_(.+?)_(?![*\w])", r"<i>\1</i>", escaped)
        html_text = f"<p>{escaped}</p>"
        plain = text
    display({"text/markdown": text, "text/html": redact(html_text), "text/plain": redact(plain)}, raw=True)


@dataclass
class MigrationRunbook:
    """Parameters of 10_migration plus the results of the sections run so far."""

    database_url: str
    agentops_api_key: str | None = None
    migrations_dir: str | Path | None = None
    apply: bool = False
    allow_destructive: bool = False
    lock_timeout_ms: int = 5000
    statement_timeout_ms: int = 60000
    set_prem_status: str | None = None
    server: ServerInfo | None = None
    drift_before: DriftReport | None = None
    repair: RepairResult | None = None
    drift_after: DriftReport | None = None
    auth: AuthProbeResult | None = None
    shown: list[Check] = field(default_factory=list)

    def _show(self, checks: list[Check], title: str) -> list[Check]:
        if checks:
            display_checks(checks, title=title)
            self.shown.extend(checks)
        return checks

    # 1 -------------------------------------------------------------------------------------------
    def show_connection(self) -> list[Check]:
        self.server, check = connection_check(self.database_url)
        if self.server is not None:
            import pandas as pd

            _display(pd.DataFrame([self.server.as_dict()]).T.rename(columns={0: "value"}))
        return self._show([check], "Connection")

    @property
    def connected(self) -> bool:
        return self.server is not None

    # 2 -------------------------------------------------------------------------------------------
    def show_drift(self) -> list[Check]:
        if not self.connected:
            _markdown("_Skipped: no connection._")
            return []
        self.drift_before = drift_report(self.database_url, migrations_dir=self.migrations_dir)
        report = self.drift_before
        _markdown(f"**Inferred level.** {report.level_sentence}")
        frame = report.to_frame()
        problems = frame[frame["status"] != "pass"]
        if len(problems):
            _display(problems.set_index(["version", "migration"]))
        else:
            _markdown("No drift: every expected object is present.")
        if self.apply:
            _markdown("_apply=True: these findings are re-checked after the repair (section 5)._")
            return []
        return self._show(report.checks, "Drift report")

    # 3 + 4 ---------------------------------------------------------------------------------------
    def show_plan(self) -> list[Check]:
        """Dry-run planning (READ ONLY): the SQL and the preflight probes, whatever ``apply`` is."""
        if not self.connected:
            _markdown("_Skipped: no connection._")
            return []
        planned = run_repair(self.database_url, apply=False, allow_destructive=self.allow_destructive,
                             lock_timeout_ms=self.lock_timeout_ms, statement_timeout_ms=self.statement_timeout_ms,
                             migrations_dir=self.migrations_dir)
        if not self.apply:
            self.repair = planned
        if planned.plan is not None and planned.plan.steps:
            import pandas as pd

            _display(pd.DataFrame(planned.plan_rows).drop(columns=["sql"]).set_index("order"))
        _markdown(f"```sql\n{planned.sql}\n```" if planned.sql else "_No plan._")
        if self.apply:
            # The apply re-plans under the lock; only preflight problems are worth showing here.
            return self._show([c for c in planned.checks if c.id.startswith("repair.preflight")
                               or c.id == "repair.privileges"], "Preflight")
        return self._show(planned.checks, "Repair plan (dry run)")

    def show_apply(self) -> list[Check]:
        if not self.connected:
            _markdown("_Skipped: no connection._")
            return []
        if not self.apply:
            _markdown("**Dry run: nothing changed.** Run again with `apply=True` to apply the plan above.")
            return self._show([Check.skipped("repair.apply", "Apply the repair", "dry run (apply=False): nothing "
                                             "changed")], "Apply")
        self.repair = run_repair(self.database_url, apply=True, allow_destructive=self.allow_destructive,
                                 lock_timeout_ms=self.lock_timeout_ms, statement_timeout_ms=self.statement_timeout_ms,
                                 migrations_dir=self.migrations_dir)
        if self.repair.outcomes:
            import pandas as pd

            _display(pd.DataFrame([o.__dict__ for o in self.repair.outcomes]))
        return self._show(self.repair.checks, "Apply")

    # 5 -------------------------------------------------------------------------------------------
    def show_verification(self) -> list[Check]:
        if not self.connected:
            _markdown("_Skipped: no connection._")
            return []
        checks: list[Check] = []
        if self.apply:
            self.drift_after = drift_report(self.database_url, migrations_dir=self.migrations_dir)
            _markdown(f"**Level after the repair.** {self.drift_after.level_sentence}")
            checks += self.drift_after.checks
        if self.agentops_api_key:
            self.auth = probe_auth_query(self.database_url, self.agentops_api_key,
                                         set_prem_status=self.set_prem_status, apply=self.apply,
                                         statement_timeout_ms=self.statement_timeout_ms)
            checks += self.auth.checks
        else:
            checks.append(Check.skipped("auth.query", "API auth query (POST /v3/auth/token)",
                                        "no agentops_api_key given: the auth-query probe did not run"))
        return self._show(checks, "Verification")

    # 6 -------------------------------------------------------------------------------------------
    @property
    def final_report(self) -> DriftReport | None:
        return self.drift_after or self.drift_before

    def summary(self) -> Check:
        report = self.final_report
        title = "10_migration summary"
        if not self.connected:
            return Check.failed("migration.summary", title, "no connection to the database",
                                "fix the connection (section 1) and run again", severity=Severity.CRITICAL)
        changed = bool(self.repair and self.repair.mode == "apply" and self.repair.changed)
        pieces = [report.level_sentence if report else "no drift report"]
        pieces.append("changes applied and committed" if changed else "nothing changed")
        if self.auth is not None:
            pieces.append("auth query passes" if self.auth.ok else "auth query FAILS")
        evidence = {"changed": changed, "drift_findings": len(report.findings) if report else None,
                    "auth_ok": self.auth.ok if self.auth else None}
        repair_failed = bool(self.repair and not self.repair.ok)
        if report is not None and report.clean and not repair_failed and (self.auth is None or self.auth.ok):
            return Check.passed("migration.summary", title, "; ".join(pieces), evidence=evidence)
        return Check.failed("migration.summary", title, "; ".join(pieces),
                            "see the failed checks above; a dry run shows the plan, apply=True carries it out",
                            severity=Severity.CRITICAL, evidence=evidence)

    def show_summary(self) -> list[Check]:
        return self._show([self.summary()], "Summary")
