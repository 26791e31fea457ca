"""Reading several report folders: the runs under a folder, the failed checks of one, what changed
between two (``runbook report list | show --failed | diff``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checks import Status
from .errors import ReportError, ReportPathError
from .record import RUN_JSON, RunRecord, load_run

__all__ = ["FIGURE_NOTEBOOKS", "RunDiff", "diff_runs", "failed_checks", "figures_of", "format_diff",
           "format_failed", "format_run_list", "list_runs"]

#: Notebooks whose numeric check evidence is worth comparing side by side (their headline figures).
FIGURE_NOTEBOOKS = ("30_trace_analytics",)
_SYMBOL = {s.value: s.symbol for s in Status}


def list_runs(folder: str | Path) -> list[RunRecord]:
    """Every run folder directly under ``folder`` (or ``folder`` itself), oldest first."""
    root = Path(folder)
    if not root.is_dir():
        what = f"{root}: no such folder" if not root.exists() else f"{root} is a file, not a folder"
        raise ReportPathError(what, hint="pass the folder given to `runbook run --out` (default: reports/, "
                                         "created by the first `runbook run`)")
    dirs = [root] if (root / RUN_JSON).is_file() else sorted(p for p in root.iterdir() if (p / RUN_JSON).is_file())
    runs = []
    for path in dirs:
        try:
            runs.append(load_run(path))
        except ReportError:
            continue  # an unreadable run.json is reported by `report verify`, not listed
    return sorted(runs, key=lambda r: (r.started_at or "", r.run_id))


def format_run_list(runs: list[RunRecord]) -> str:
    """One line per run: when, verdict, notebooks, failing count, folder."""
    if not runs:
        return "no runs found"
    lines = [f"{'started':22} {'verdict':12} {'failing':>7}  {'notebooks':48} folder"]
    for run in runs:
        failing = sum(1 for nb in run.notebooks for c in nb.checks if c.get("status") in ("fail", "error"))
        names = ",".join(nb.name for nb in run.notebooks)
        lines.append(f"{(run.started_at or '')[:19]:22} {run.verdict:12} {failing:>7}  {names:48} {run.run_dir}")
    return "\n".join(lines)


def failed_checks(record: RunRecord) -> Iterator[tuple[str, dict[str, Any]]]:
    """(notebook, check) for every failed or errored check, in report order."""
    for nb in record.notebooks:
        for check in nb.checks:
            if check.get("status") in ("fail", "error"):
                yield nb.name, check


def format_failed(record: RunRecord) -> str:
    """Only the failing checks, each with its remedy (``report show --failed``)."""
    lines = []
    for name, c in failed_checks(record):
        lines.append(f"{_SYMBOL.get(c['status'], '?')} {c['status']:5} {name}/{c['id']}: {c.get('summary', '')}")
        if c.get("remedy"):
            lines.append(f"      fix: {c['remedy']}")
    errors = [f"‼ error {nb.name}: {nb.error}" for nb in record.notebooks if nb.error]
    return "\n".join(lines + errors) or f"no failing check in {record.run_dir} (verdict {record.verdict})"


def _numbers(value: Any, prefix: str) -> Iterator[tuple[str, float]]:
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield prefix, value
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _numbers(inner, f"{prefix}.{key}")


def figures_of(record: RunRecord, notebook: str) -> dict[str, float]:
    """The numeric evidence of ``notebook``'s checks (``check id.field``: value)."""
    out: dict[str, float] = {}
    for nb in record.notebooks:
        if nb.name == notebook:
            for check in nb.checks:
                out.update(_numbers(check.get("evidence") or {}, str(check.get("id"))))
    return out


@dataclass
class RunDiff:
    """What changed from run ``a`` to run ``b``."""

    a: RunRecord
    b: RunRecord
    changed: list[tuple[str, str, str, str]] = field(default_factory=list)  # notebook, id, before, after
    figures: dict[str, list[tuple[str, float | None, float | None]]] = field(default_factory=dict)


def diff_runs(a: RunRecord, b: RunRecord) -> RunDiff:
    """Checks whose status changed (``absent`` when a run lacks it) and, for :data:`FIGURE_NOTEBOOKS`,
    the figures side by side."""
    result = RunDiff(a, b)
    before = {(nb.name, c.get("id")): c.get("status") for nb in a.notebooks for c in nb.checks}
    after = {(nb.name, c.get("id")): c.get("status") for nb in b.notebooks for c in nb.checks}
    for key in list(dict.fromkeys([*before, *after])):
        old, new = before.get(key, "absent"), after.get(key, "absent")
        if old != new:
            result.changed.append((key[0], str(key[1]), str(old), str(new)))
    for notebook in FIGURE_NOTEBOOKS:
        fa, fb = figures_of(a, notebook), figures_of(b, notebook)
        if fa or fb:
            result.figures[notebook] = [(k, fa.get(k), fb.get(k)) for k in dict.fromkeys([*fa, *fb])]
    return result


def _figure(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def format_diff(diff: RunDiff) -> str:
    lines = [f"A: {diff.a.run_dir} ({diff.a.verdict})", f"B: {diff.b.run_dir} ({diff.b.verdict})"]
    if diff.changed:
        lines.append(f"{len(diff.changed)} check(s) changed status:")
        lines += [f"  {nb}/{cid}: {old} -> {new}" for nb, cid, old, new in diff.changed]
    else:
        lines.append("no check changed status")
    for notebook, rows in diff.figures.items():
        lines.append(f"{notebook} figures:")
        width = max(len(k) for k, _, _ in rows)
        lines.append(f"  {'figure':{width}} {'A':>14} {'B':>14}")
        lines += [f"  {k:{width}} {_figure(x):>14} {_figure(y):>14}" for k, x, y in rows]
    return "\n".join(lines)
