"""The run record (``run.json``) and the integrity manifest of a report folder."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ReportError

__all__ = ["NotebookRecord", "RunRecord", "sha256_file", "load_run", "verify_run", "MANIFEST", "RUN_JSON"]

RUN_JSON = "run.json"
MANIFEST = "SHA256SUMS"
EXIT_CODES = {"passed": 0, "failed": 1, "error": 2, "leaked": 4}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class NotebookRecord:
    """What one notebook of a run produced."""

    name: str
    input_sha256: str
    parameters: dict[str, Any]
    status: str = "pending"  # passed | failed | error
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
    notebooks: list[NotebookRecord] = field(default_factory=list)
    run_dir: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("run_dir")
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], run_dir: Path | None = None) -> RunRecord:
        notebooks = [NotebookRecord(**nb) for nb in data.get("notebooks", [])]
        fields = {k: v for k, v in data.items() if k != "notebooks" and k in cls.__dataclass_fields__}
        return cls(**fields, notebooks=notebooks, run_dir=run_dir)

    def decide_verdict(self) -> None:
        """Set verdict and exit code from the notebooks and any leak found."""
        if self.leaks:
            self.verdict = "leaked"
        elif any(nb.status == "error" for nb in self.notebooks):
            self.verdict = "error"
        elif any(nb.status == "failed" for nb in self.notebooks):
            self.verdict = "failed"
        else:
            self.verdict = "passed"
        self.exit_code = EXIT_CODES[self.verdict]


def load_run(run_dir: str | Path) -> RunRecord:
    """Read ``run.json`` from a report folder."""
    path = Path(run_dir) / RUN_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(
            f"{run_dir} is not a report folder (no {RUN_JSON})",
            hint="pass the folder `runbook run` printed, e.g. reports/20261127T210000Z-ab12cd34",
        ) from None
    except ValueError as exc:
        raise ReportError(
            f"{path} is not valid JSON ({exc})", hint="the folder was altered; re-run the runbook"
        ) from None
    return RunRecord.from_dict(data, run_dir=Path(run_dir))


def write_manifest(run_dir: Path) -> None:
    """Write ``SHA256SUMS`` over every file of the folder (``run.json`` included)."""
    lines = [f"{sha256_file(p)}  {p.name}\n" for p in sorted(run_dir.iterdir()) if p.is_file() and p.name != MANIFEST]
    (run_dir / MANIFEST).write_text("".join(lines), encoding="utf-8")


def verify_run(run_dir: str | Path) -> list[str]:
    """Recompute every hash. Return problems, each naming a file; empty when the folder is intact."""
    run_dir = Path(run_dir)
    record = load_run(run_dir)
    problems: list[str] = []
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        return [f"{MANIFEST}: missing"]
    listed: dict[str, str] = {}
    for line in manifest_path.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    present = {p.name for p in run_dir.iterdir() if p.is_file() and p.name != MANIFEST}
    problems += [f"{name}: added after the run" for name in sorted(present - set(listed))]
    problems += [f"{name}: missing" for name in sorted(set(listed) - present)]
    for name in sorted(set(listed) & present):
        if sha256_file(run_dir / name) != listed[name]:
            problems.append(f"{name}: changed (sha256 differs from {MANIFEST})")
    recorded = [(nb.output, nb.output_sha256) for nb in record.notebooks] + [
        (nb.html, nb.html_sha256) for nb in record.notebooks] + [(record.log, record.log_sha256)]
    for name, digest in recorded:
        if name and digest and (run_dir / name).is_file() and sha256_file(run_dir / name) != digest:
            problems.append(f"{name}: changed (sha256 differs from {RUN_JSON})")
    return sorted(set(problems))
