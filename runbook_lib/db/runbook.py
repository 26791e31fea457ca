"""The 10_migration runbook: connection, drift report, repair plan, apply (or dry run), verification, summary.

Each check appears once per run:

- dry run: the drift checks belong to section ``drift`` (the state is unchanged afterwards);
- apply: ``drift`` shows the findings as a table only (status ``found``), and ``verification`` carries
  the drift checks of the repaired database (the state the run leaves behind); a finding the repair fixed
  (gone when the catalog is read again) passes there as "found, then repaired: …".
"""

from __future__ import annotations

from pathlib import Path

from ..checks import Check, Severity, Status, found_then_repaired
from ..commands import repair_schema_command
from ..errors import RunbookError
from ..runbook import Runbook, Section, failed_precondition, section, skipped_because
from .api_key_log import key_exposure_checks
from .auth_probe import AuthProbeResult, probe_auth_query
from .connection import ServerInfo, connection_check
from .drift import DriftReport, drift_report
from .limits import SessionLimits
from .repair import RepairResult, run_repair

__all__ = ["MigrationRunbook"]

_NO_CONNECTION = "_Skipped: no connection (see section 1)._"
_NO_CATALOG = "_Skipped: the live catalog could not be read (see section 2)._"


class MigrationRunbook(Runbook):
    """10_migration: schema drift report and a verified, all-or-nothing repair of the AgentOps database.

    Sections: ``connection``, ``drift``, ``plan``, ``apply``, ``verification``, ``key_exposure`` (the
    project key in the API's log while the schema drifted), ``summary``.
    """

    notebook = "10_migration"

    def __init__(self, *, database_url: str, agentops_api_key: str | None = None,
                 migrations_dir: str | Path | None = None, apply: bool = False, allow_destructive: bool = False,
                 lock_timeout_ms: int = 5000, statement_timeout_ms: int = 60000,
                 set_prem_status: str | None = None, agentops_api_log: str | Path | None = None) -> None:
        super().__init__()
        self.database_url = database_url
        self.agentops_api_key = agentops_api_key or None
        self.migrations_dir = migrations_dir or None
        self.apply = apply
        self.allow_destructive = allow_destructive
        self.lock_timeout_ms = lock_timeout_ms
        self.statement_timeout_ms = statement_timeout_ms
        self.set_prem_status = set_prem_status or None
        self.agentops_api_log = agentops_api_log or None
        self.server: ServerInfo | None = None
        self.drift_before: DriftReport | None = None
        self.repair: RepairResult | None = None
        self.drift_after: DriftReport | None = None
        self.auth: AuthProbeResult | None = None

    @property
    def connected(self) -> bool:
        return self.server is not None

    @property
    def limits(self) -> SessionLimits:
        """The bounds every statement of this run runs under (from the two timeout parameters)."""
        return SessionLimits(self.lock_timeout_ms, self.statement_timeout_ms)

    def _drift(self) -> DriftReport | Check:
        """The drift report, or the failed check saying why the catalog could not be read."""
        try:
            return drift_report(self.database_url, migrations_dir=self.migrations_dir, limits=self.limits)
        except RunbookError as exc:
            return Check.from_error("drift.read", "Read the live catalog", exc, severity=Severity.CRITICAL)

    def _repair(self, *, apply: bool) -> RepairResult:
        return run_repair(self.database_url, apply=apply, allow_destructive=self.allow_destructive,
                          lock_timeout_ms=self.lock_timeout_ms, statement_timeout_ms=self.statement_timeout_ms,
                          migrations_dir=self.migrations_dir)

    # 1 -------------------------------------------------------------------------------------------
    @section("Connection")
    def connection(self) -> Section:
        """Connect; who we are, where, and the server version."""
        self.server, check = connection_check(self.database_url, limits=self.limits)
        result = Section([check])
        if self.server is not None:
            facts = self.server.as_dict()
            result.table({"property": list(facts), "value": [str(v) for v in facts.values()]},
                         formats={"property": "text", "value": "text"})
        return result

    # 2 -------------------------------------------------------------------------------------------
    @section("Drift report")
    def drift(self) -> Section:
        """The live catalog against the expected schema, the ledger and (optionally) the checkout."""
        if not self.connected:
            return Section().note(_NO_CONNECTION)
        report = self._drift()
        if isinstance(report, Check):
            return Section([report])
        self.drift_before = report
        result = Section().note(f"**Inferred level.** {report.level_sentence}")
        frame = report.to_frame()
        problems = frame[frame["status"] != "pass"]
        if len(problems) and self.apply:  # not a verdict yet: section 5 says what the repair fixed
            problems = problems.assign(status=problems["status"].replace({Status.FAIL.value: "found"}))
            problems = problems.drop(columns=["remedy"])  # this run applies it
        if len(problems):
            result.table(problems, title="Findings before the repair" if self.apply else "Findings",
                         formats={"version": "text"})
        else:
            result.note("No drift: every expected object is present.")
        if self.apply:
            return result.note("_This run applies the repair (`apply` is true): these findings are re-checked "
                               "after it (section 5)._")
        return result.add(*report.checks)

    # 3 -------------------------------------------------------------------------------------------
    @section("Repair plan (dry run)")
    def plan(self) -> Section:
        """Dry-run planning (READ ONLY): the SQL and the preflight probes, whatever ``apply`` is."""
        if not self.connected:
            return Section().note(_NO_CONNECTION)
        if self.drift_before is None:
            return Section().note(_NO_CATALOG)
        planned = self._repair(apply=False)
        if not self.apply:
            self.repair = planned
        result = Section()
        if planned.plan is not None and planned.plan.steps:
            result.table([{k: v for k, v in row.items() if k != "sql"} for row in planned.plan_rows],
                         title="Steps")
        if planned.sql:
            result.code(planned.sql, "sql", title="SQL")
        else:
            result.note("_No plan._")
        if self.apply:
            # The apply re-plans under the lock; only preflight problems are worth showing here.
            result.title = "Preflight"
            return result.add(*[c for c in planned.checks
                                if c.id.startswith("repair.preflight") or c.id == "repair.privileges"])
        return result.add(*planned.checks)

    # 4 -------------------------------------------------------------------------------------------
    @section("Apply", name="apply")
    def apply_repair(self) -> Section:
        """Apply the plan under the advisory lock in one transaction, or say that this is a dry run."""
        if not self.connected:
            return Section().note(_NO_CONNECTION)
        if self.apply and self.drift_before is None:
            return Section([Check.skipped("repair.apply", "Apply the repair",
                                          "the live catalog could not be read (section 2): nothing changed")])
        if not self.apply:
            return Section([Check.skipped("repair.apply", "Apply the repair",
                                          "dry run (`apply` is false): nothing changed")]).note(
                "**Dry run: nothing changed.** To apply the plan above, run again with `apply` set to true: "
                f"`{repair_schema_command()}`, or in JupyterLab edit the parameters cell.")
        self.repair = self._repair(apply=True)
        result = Section(list(self.repair.checks))
        if self.repair.outcomes:
            result.table([o.__dict__ for o in self.repair.outcomes], title="Steps run",
                         formats={"duration_ms": "ms"})
        return result

    # 5 -------------------------------------------------------------------------------------------
    @section("Verification")
    def verification(self) -> Section:
        """The drift report of the database as the run leaves it, and the API's own auth query."""
        if not self.connected:
            return Section().note(_NO_CONNECTION)
        result = Section()
        if self.apply and self.drift_before is not None:
            after = self._drift()
            if isinstance(after, Check):
                result.add(after)
            else:
                self.drift_after = after
                result.note(f"**Level after the repair.** {after.level_sentence}")
                result.add(*after.checks, *self._repaired_findings(after))
        if self.agentops_api_key:
            self.auth = probe_auth_query(self.database_url, self.agentops_api_key,
                                         set_prem_status=self.set_prem_status, apply=self.apply,
                                         statement_timeout_ms=self.statement_timeout_ms,
                                         lock_timeout_ms=self.lock_timeout_ms)
            result.add(*self.auth.checks)
        else:
            result.add(Check.skipped("auth.query", "API auth query (POST /v3/auth/token)",
                                     "no agentops_api_key given: the auth-query probe did not run"))
        return result

    def _repaired_findings(self, after: DriftReport) -> list[Check]:
        """The pre-repair drift checks that failed and are gone from ``after`` (the catalog read again), as
        "found, then repaired" once the repair applied; a finding still there stays in ``after`` as it is."""
        if self.drift_before is None or not (self.repair and self.repair.mode == "apply" and self.repair.ok):
            return []
        still = {c.id for c in after.checks}
        return [found_then_repaired(c) for c in self.drift_before.checks
                if c.status is Status.FAIL and c.id not in still]

    # 6 -------------------------------------------------------------------------------------------
    @section("The project key in the API's log")
    def key_exposure(self) -> Section:
        """While the schema drifts the API logs the project key with every failed auth: say so when drift
        was found, and count the lines of ``agentops_api_log`` that hold the key (never showing it)."""
        drift_found = self.drift_before is not None and not self.drift_before.clean
        checks = key_exposure_checks(drift_found=drift_found, log_path=self.agentops_api_log,
                                     api_key=self.agentops_api_key)
        if checks:
            return Section(checks)
        why = "no drift found" if self.drift_before is not None else "the drift was not read"
        scan = ("" if self.agentops_api_log and self.agentops_api_key
                else "; set agentops_api_log and agentops_api_key to scan the API's log")
        return Section().note(f"_{why}{scan}._")

    # 7 -------------------------------------------------------------------------------------------
    @property
    def final_report(self) -> DriftReport | None:
        return self.drift_after or self.drift_before

    @section("Summary")
    def summary(self) -> Section:
        """One check for the whole run: the level reached, whether anything changed, the auth query."""
        report = self.final_report
        title = "10_migration summary"
        if not self.connected:
            cause = failed_precondition(self.checks, ("db.connection",))
            if cause is not None:  # the connection check already fails and says what to do
                return skipped_because(cause, ("migration.summary", title))
            return Section([Check.failed("migration.summary", title, "no connection to the database",
                                         "fix the connection (section 1) and run again",
                                         severity=Severity.CRITICAL)])
        changed = bool(self.repair and self.repair.mode == "apply" and self.repair.changed)
        pieces = [report.level_sentence.rstrip(".") if report else "no drift report"]
        pieces.append("changes applied and committed" if changed else "nothing changed")
        if self.auth is not None:
            pieces.append("auth query passes" if self.auth.ok else "auth query FAILS")
        evidence = {"changed": changed, "drift_findings": len(report.findings) if report else None,
                    "auth_ok": self.auth.ok if self.auth else None}
        repair_failed = bool(self.repair and not self.repair.ok)
        if report is not None and report.clean and not repair_failed and (self.auth is None or self.auth.ok):
            return Section([Check.passed("migration.summary", title, "; ".join(pieces), evidence=evidence)])
        remedy = "see the failed checks above, each with its fix"
        if report is not None and not report.clean and not (self.repair and self.repair.mode == "apply"):
            remedy = (f"see the failed checks above; section 3 shows the repair plan, "
                      f"`{repair_schema_command()}` applies it")
        return Section([Check.failed("migration.summary", title, "; ".join(pieces), remedy,
                                     severity=Severity.CRITICAL, evidence=evidence)])
