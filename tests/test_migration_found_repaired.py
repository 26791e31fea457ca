"""A passed 10_migration report shows the drift it repaired as "found, then repaired", never as ``fail``;
a dry run on the same drifted database still fails on each finding. Real PostgreSQL, through the runner."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from runbook_lib.checks import Check, Status, found_then_repaired
from runbook_lib.runner import run_notebooks

pytestmark = pytest.mark.postgres

REPAIRED = "found, then repaired: "


class _Rows(HTMLParser):
    """The rows (cell texts) of every data table (``runbook-table``) of a report."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._depth: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._depth.append(dict(attrs).get("class") or "")
        elif self._depth and self._depth[-1] == "runbook-table":
            if tag == "tr":
                self._row = []
            elif tag in ("td", "th") and self._row is not None:
                self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._depth:
            self._depth.pop()
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _finding_rows(record) -> list[list[str]]:
    """The rows of the report's drift findings table (those naming a drift.* check)."""
    parser = _Rows()
    parser.feed(Path(record.run_dir, record.notebooks[0].html).read_text(encoding="utf-8"))
    return [row for row in parser.rows if any(cell.startswith("drift.") for cell in row)]


def test_found_then_repaired_turns_a_closed_gap_into_a_pass() -> None:
    found = Check.failed("drift.x", "X", "column x is missing", remedy="apply the repair", evidence={"v": 1})
    repaired = found_then_repaired(found)
    assert repaired.status is Status.PASS and repaired.summary == REPAIRED + "column x is missing"
    assert repaired.remedy == "" and repaired.evidence == {"v": 1}
    warned = Check.warned("drift.y", "Y", "obsolete table", remedy="drop it")
    assert found_then_repaired(warned) is warned  # a warning is left alone unless the repair closes those too
    closing = found_then_repaired(warned, warnings=True)
    assert (closing.status, closing.summary, closing.remedy) == (Status.PASS, REPAIRED + "obsolete table", "")


def test_a_passed_repair_reports_its_drift_as_found_then_repaired(agentops_db, tmp_path) -> None:
    db = agentops_db("early", ledger=True, prem_status="free")
    params = {"database_url": db.dsn_ref, "agentops_api_key": db.api_key_ref}

    dry = run_notebooks(["10_migration"], params, out_dir=tmp_path)
    dry_checks = {c["id"]: c for c in dry.notebooks[0].checks}
    found = sorted(i for i, c in dry_checks.items() if i.startswith("drift.") and c["status"] == "fail")
    assert dry.verdict == "failed" and "drift.org_invites.inviter_id" in found and len(found) > 5
    assert all(not c["summary"].startswith("found") for c in dry_checks.values())
    dry_rows = _finding_rows(dry)
    assert dry_rows and all("fail" in row or "warn" in row for row in dry_rows)  # the drift is there

    applied = run_notebooks(["10_migration"], {**params, "apply": True}, out_dir=tmp_path)
    checks = {c["id"]: c for c in applied.notebooks[0].checks}
    assert applied.verdict == "passed", {i: c["status"] for i, c in checks.items()}
    assert not [i for i, c in checks.items() if c["status"] == "fail"]
    assert checks["drift.level"]["status"] == "pass" and not checks["drift.level"]["summary"].startswith("found")
    repaired = sorted(i for i, c in checks.items() if c["summary"].startswith(REPAIRED))
    assert repaired == [i for i in found if i != "drift.level"]  # every finding, each once, read again after
    for check_id in repaired:
        check = checks[check_id]
        assert check["status"] == "pass" and check["remedy"] == ""
        assert check["summary"] == REPAIRED + dry_checks[check_id]["summary"]

    rows = _finding_rows(applied)
    assert rows and all("fail" not in row for row in rows)
    assert not any("-p apply true" in cell for row in rows for cell in row)  # no remedy: this run applied it
    assert any("-p apply true" in cell for row in dry_rows for cell in row)
    assert ".;" not in checks["migration.summary"]["summary"]
    assert sorted(next(c for c in row if c.startswith("drift.")) for row in rows if "found" in row) == found
