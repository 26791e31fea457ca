"""Reading report folders back: the checks table for a terminal, and integrity verification."""

from __future__ import annotations

from pathlib import Path

from .checks import Status
from .record import RunRecord, load_run, verify_run

__all__ = ["format_run_summary", "format_checks", "show_report", "verify_report"]

_SYMBOL = {s.value: s.symbol for s in Status}


def format_run_summary(record: RunRecord) -> str:
    """One line per notebook (status, check counts, duration), the failing checks and the warnings by
    id, then the verdict and the folder."""
    lines = [f"{'notebook':28} {'status':10} {'pass':>4} {'warn':>4} {'fail':>4} {'error':>5} {'skip':>4} "
             f"{'time':>7}"]
    for nb in record.notebooks:
        count = {s.value: sum(1 for c in nb.checks if c.get("status") == s.value) for s in Status}
        lines.append(f"{nb.name:28} {nb.status:10} {count['pass']:>4} {count['warn']:>4} {count['fail']:>4} "
                     f"{count['error']:>5} {count['skip']:>4} {nb.duration_s:>6.1f}s")
        if nb.error:
            lines.append(f"    execution error: {nb.error}")
        if nb.status == "skipped":
            what = "every check skipped" if nb.checks else "no check was recorded"
            lines.append(f"    {what}: nothing was checked (give its parameters; see `runbook params "
                         f"{nb.name}`)")
    for label, statuses in (("failing", ("fail", "error")), ("warnings", ("warn",))):
        ids = list(dict.fromkeys(f"{nb.name}/{c['id']}" for nb in record.notebooks for c in nb.checks
                                 if c.get("status") in statuses))
        if ids:
            lines.append(f"{label}: {', '.join(ids)}")
    lines.append(f"verdict: {record.verdict} (exit code {record.exit_code})")
    if record.interrupted:
        lines.append(f"interrupted: {record.interrupted}")
    lines += [f"note: {note}" for note in record.notes]
    if record.leaks:
        lines.append("secret leak: values were redacted in " + ", ".join(sorted({x['file'] for x in record.leaks})))
    if record.run_dir:
        lines.append(f"report: {record.run_dir}")
    return "\n".join(lines)


def format_checks(record: RunRecord) -> str:
    """Every check of every notebook, failures with their remedy."""
    lines = []
    for nb in record.notebooks:
        lines.append(f"== {nb.name} [{nb.status}]")
        for c in nb.checks:
            symbol = _SYMBOL.get(c["status"], "?")
            lines.append(f"  {symbol} {c['status']:5} {c['severity']:8} {c['id']}: {c['summary']}")
            if c.get("remedy") and c["status"] in ("fail", "error", "warn"):
                lines.append(f"      fix: {c['remedy']}")
    return "\n".join(lines)


def show_report(run_dir: str | Path) -> str:
    record = load_run(run_dir)
    return format_checks(record) + "\n\n" + format_run_summary(record)


def verify_report(run_dir: str | Path, *, pubkey: str | Path | None = None) -> list[str]:
    """Problems found (each naming a path); empty when the folder is exactly as the run left it and,
    with ``pubkey``, its manifest carries a valid signature by that key."""
    problems = verify_run(run_dir)
    if pubkey is not None:
        from .signing import verify_signature

        problems += verify_signature(Path(run_dir), pubkey)
    return problems
