"""Report folders a runner left unsealed (SIGKILL, a crash, a power cut): find them and repair them.

A run folder holds :data:`~runbook_lib.report_tree.UNSEALED_MARKER` from its creation until it is
sealed: the runner's pid and process start time, the run id and the *references* of the secrets the
run resolved (never values). A folder whose marker names a process that no longer runs is repaired:
its secrets are resolved again from those references, every file is scanned and redacted, ``run.json``
says ``interrupted`` (exit code 5), and the folder is sealed like any other. Every ``runbook`` command
that meets such a folder repairs it; ``runbook report repair FOLDER`` does it explicitly.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from .errors import RunbookError
from .report_tree import MANIFEST, UNSEALED_MARKER

__all__ = ["UnsealedOwner", "find_unsealed", "is_unsealed", "owner_alive", "process_start", "read_marker",
           "repair_folder", "repair_unsealed", "write_marker"]

RUN_FOLDER = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
#: The marker's start-time key. Markers of earlier versions hold kernel ticks under ``process_start``: not
#: comparable with psutil's create time, so they are read as "start unknown" (the pid alone decides).
_START_KEY = "process_created"


@dataclass(frozen=True)
class UnsealedOwner:
    pid: int
    process_start: str | None


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, as text (psutil's create time); tells a pid reused by another process apart."""
    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except psutil.Error:
        return None


def owner_alive(owner: UnsealedOwner) -> bool:
    """True while the runner that wrote a marker still runs: its pid is alive (not a zombie) and started when
    the marker says (a start time unknown on either side is not held against it)."""
    try:
        if psutil.Process(owner.pid).status() == psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
    start = process_start(owner.pid)
    return start is None or owner.process_start is None or start == owner.process_start


def write_marker(run_dir: Path, *, run_id: str, started_at: str, notebooks: list[str],
                 secret_references: list[str], pid: int | None = None) -> None:
    """Mark ``run_dir`` as being written by process ``pid`` (default: this one); a private file, no
    secret values."""
    pid = os.getpid() if pid is None else pid
    data = {"pid": pid, _START_KEY: process_start(pid), "run_id": run_id,
            "started_at": started_at, "notebooks": notebooks, "secret_references": sorted(set(secret_references))}
    path = run_dir / UNSEALED_MARKER
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)


def read_marker(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / UNSEALED_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None if not (run_dir / UNSEALED_MARKER).exists() else {}


def is_unsealed(run_dir: Path) -> bool:
    """True for a run folder whose runner did not seal it and no longer runs."""
    if not run_dir.is_dir() or run_dir.is_symlink():
        return False
    marker = read_marker(run_dir)
    if marker is None:
        return RUN_FOLDER.match(run_dir.name) is not None and not (run_dir / MANIFEST).exists()
    owner = UnsealedOwner(int(marker.get("pid") or 0), marker.get(_START_KEY))
    return owner.pid <= 0 or not owner_alive(owner)


def find_unsealed(parent: Path) -> list[Path]:
    """Unsealed run folders directly inside ``parent`` (a reports folder)."""
    try:
        children = sorted(p for p in parent.iterdir() if RUN_FOLDER.match(p.name))
    except OSError:
        return []
    return [p for p in children if is_unsealed(p)]


def _resolve_all(references: list[str]) -> tuple[set[str], list[str]]:
    from .secrets import SecretRef, known_secrets

    values, notes = set(known_secrets()), []
    for text in references:
        try:
            values.add(SecretRef.parse(text).resolve())
        except RunbookError:
            notes.append(f"secret {text} could not be resolved during the repair: the files were scanned for"
                         " the other secrets and for token shapes only")
    return values, notes


def repair_folder(run_dir: Path, *, by: str) -> Any:
    """Scan, redact, mark ``interrupted`` and seal one unsealed folder; return its RunRecord."""
    from .record import RUN_JSON, NotebookRecord, RunRecord
    from .runner import new_record, read_checks, seal_run

    run_dir = Path(run_dir)
    marker = read_marker(run_dir) or {}
    run_dir.chmod(0o700)
    for path in run_dir.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o700)
        elif path.is_file() and not path.is_symlink():
            path.chmod(0o600)
    secrets, notes = _resolve_all(list(marker.get("secret_references", [])))
    try:
        record = RunRecord.from_dict(json.loads((run_dir / RUN_JSON).read_text(encoding="utf-8")), run_dir=run_dir)
    except (OSError, ValueError, TypeError):
        record = new_record(run_dir, marker.get("run_id") or run_dir.name.rsplit("-", 1)[-1],
                            marker.get("started_at") or "unknown")
    names = list(marker.get("notebooks", [])) or sorted(p.stem for p in run_dir.glob("*.ipynb"))
    known = {nb.name for nb in record.notebooks}
    for name in names:
        if name in known:
            continue
        nb_rec = NotebookRecord(name=name, input_sha256="", parameters={}, status="interrupted")
        record.notebooks.append(nb_rec)
        if (run_dir / f"{name}.ipynb").is_file():
            nb_rec.output = f"{name}.ipynb"
            nb_rec.checks = read_checks(run_dir / nb_rec.output)
        if (run_dir / f"{name}.html").is_file():
            nb_rec.html = f"{name}.html"
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    reason = (f"the runner (pid {marker.get('pid', '?')}) stopped before sealing this folder; {by} scanned,"
              f" redacted and sealed it at {stamp}")
    record.notes += notes
    seal_run(record, secrets, interrupted=record.interrupted or reason)
    return record


def repair_unsealed(path: Path, *, by: str) -> list[Any]:
    """Repair ``path`` when it is an unsealed run folder, else every unsealed run folder inside it."""
    path = Path(path)
    if is_unsealed(path) and (RUN_FOLDER.match(path.name) or (path / UNSEALED_MARKER).exists()):
        return [repair_folder(path, by=by)]
    return [repair_folder(p, by=by) for p in find_unsealed(path)]
