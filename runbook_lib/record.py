"""The run record (``run.json``) and the integrity manifest of a report folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ReportError, ReportPathError
from .report_tree import MANIFEST, UNSEALED_MARKER, seal_tree, sha256_file, verify_tree

__all__ = ["NotebookRecord", "RunRecord", "sha256_file", "load_run", "verify_run", "write_manifest", "MANIFEST",
           "RUN_JSON", "EXIT_CODES", "not_a_run", "notebook_status"]

RUN_JSON = "run.json"
#: ``interrupted``: the runner stopped before sealing; the folder was scanned and sealed afterwards.
#: ``incomplete``: no check failed, but some notebook checked nothing (no check, or every check skipped).
EXIT_CODES = {"passed": 0, "failed": 1, "error": 2, "leaked": 4, "interrupted": 5, "incomplete": 6}


@dataclass
class NotebookRecord:
    """What one notebook of a run produced."""

    name: str
    input_sha256: str
    parameters: dict[str, Any]
    status: str = "pending"  # passed | failed | error | skipped (no check, or every check skipped)
    duration_s: float = 0.0
    output: str | None = None
    output_sha256: str | None = None
    html: str | None = None
    html_sha256: str | None = None
    error: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunRecord:
    """Everything ``run.json`` holds. ``run_dir`` is where the folder lives (not serialised)."""

    run_id: str
    started_at: str
    runbook_version: str
    host: str
    python: str
    packages: dict[str, str]
    finished_at: str | None = None
    verdict: str = "error"
    exit_code: int = 2
    log: str | None = None
    log_sha256: str | None = None
    leaks: list[dict[str, Any]] = field(default_factory=list)
    interrupted: str | None = None  # why the run did not finish, when it did not
    notes: list[str] = field(default_factory=list)
    notebooks: list[NotebookRecord] = field(default_factory=list)
    run_dir: Path | None = None
    signature: Any = None  # the Signature when the run was signed (kept beside the manifest, not in it)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("run_dir")
        data.pop("signature")
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], run_dir: Path | None = None) -> RunRecord:
        notebooks = [NotebookRecord(**nb) for nb in data.get("notebooks", [])]
        fields = {k: v for k, v in data.items()
                  if k not in ("notebooks", "run_dir", "signature") and k in cls.__dataclass_fields__}
        return cls(**fields, notebooks=notebooks, run_dir=run_dir)

    def decide_verdict(self) -> None:
        """Set verdict and exit code from the notebooks and any leak found (an interrupted run says so
        whatever else it holds; its leaks are listed)."""
        if self.interrupted:
            self.verdict = "interrupted"
        elif self.leaks:
            self.verdict = "leaked"
        elif any(nb.status == "error" for nb in self.notebooks):
            self.verdict = "error"
        elif any(nb.status == "failed" for nb in self.notebooks):
            self.verdict = "failed"
        elif any(nb.status == "skipped" for nb in self.notebooks):
            self.verdict = "incomplete"
        else:
            self.verdict = "passed"
        self.exit_code = EXIT_CODES[self.verdict]


def notebook_status(checks: list[dict[str, Any]]) -> str:
    """The status of a notebook that ran without failing: ``skipped`` when it recorded no check or every
    check was skipped (it checked nothing), else ``passed``."""
    return "skipped" if all(c.get("status") == "skip" for c in checks) else "passed"


def not_a_run(path: str | Path) -> ReportPathError:
    """The usage error for a path that is no report folder: what it is instead, and what to pass."""
    path = Path(path)
    if not path.exists():
        what = f"{path}: no such folder"
    elif not path.is_dir():
        what = f"{path} is a file, not a report folder"
    elif (path / UNSEALED_MARKER).exists():  # a runner still owns it (a stopped one is repaired on sight)
        return ReportPathError(f"{path} is a run still in progress (no {RUN_JSON} yet)",
                               hint="wait for `runbook run` to finish, then pass the same folder")
    else:
        what = f"{path} is not a report folder (no {RUN_JSON})"
        runs = sorted(p.name for p in path.iterdir() if (p / RUN_JSON).is_file())
        if runs:
            return ReportPathError(what, hint=f"it holds {len(runs)} run(s): pass one, e.g. {path / runs[-1]} "
                                              f"(`runbook report list {path}` lists them)")
    return ReportPathError(what, hint="pass the folder `runbook run` printed, e.g. "
                                      "reports/20261127T210000Z-ab12cd34 (`runbook report list` lists the runs)")


def load_run(run_dir: str | Path) -> RunRecord:
    """Read ``run.json`` from a report folder."""
    path = Path(run_dir) / RUN_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        if (Path(run_dir) / MANIFEST).is_file():  # sealed, then its record removed: a damaged report
            raise ReportError(f"{run_dir}: {RUN_JSON} is missing from a sealed report folder",
                              hint="the folder was altered; re-run the runbook") from None
        raise not_a_run(run_dir) from None
    except ValueError as exc:
        raise ReportError(
            f"{path} is not valid JSON ({exc})", hint="the folder was altered; re-run the runbook"
        ) from None
    return RunRecord.from_dict(data, run_dir=Path(run_dir))


def write_manifest(run_dir: Path) -> None:
    """Seal the folder: ``SHA256SUMS`` over every file of the tree, read-only files, private folders."""
    seal_tree(run_dir)


def verify_run(run_dir: str | Path) -> list[str]:
    """Check the whole tree (contents, added/missing files and folders, modes, file types) and the
    hashes ``run.json`` recorded. Return problems, each naming a path; empty when intact."""
    run_dir = Path(run_dir)
    record = load_run(run_dir)
    problems = verify_tree(run_dir)
    recorded = [(nb.output, nb.output_sha256) for nb in record.notebooks] + [
        (nb.html, nb.html_sha256) for nb in record.notebooks] + [(record.log, record.log_sha256)]
    for name, digest in recorded:
        path = run_dir / name if name else None
        if path and digest and path.is_file() and not path.is_symlink() and sha256_file(path) != digest:
            problems.append(f"{name}: changed (sha256 differs from {RUN_JSON})")
    return sorted(set(problems))
