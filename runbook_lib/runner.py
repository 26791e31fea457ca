"""The headless runner: notebooks + parameters -> an immutable, verified report folder.

Order of work: validate every notebook's parameters (no kernel yet); create
``reports/<UTC timestamp>-<id>/``; execute each notebook with papermill (a failing one does not
stop the others); render HTML; read back the checks; scan and redact every artifact; write
``run.json`` and the ``SHA256SUMS`` manifest; make the files read-only.
"""

from __future__ import annotations

import logging
import platform
import socket
import stat
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat

from .checks import CHECKS_MIME, Status
from .errors import ParameterError
from .html_report import render_html
from .kernel_env import KERNEL_ARGUMENTS, isolated_jupyter_env
from .leaks import scan_and_redact_file
from .notebooks import NotebookInfo, expand_names, list_notebooks
from .params import load_params_file, read_declarations, secret_references, validate_parameters
from .record import RUN_JSON, NotebookRecord, RunRecord, sha256_file, write_manifest
from .secrets import known_secrets, redact

__all__ = ["run_notebooks", "plan_run", "ProgressEvent", "DEFAULT_REPORTS_DIR"]

DEFAULT_REPORTS_DIR = Path("reports")
PACKAGES = ("agentops-runbooks", "papermill", "nbconvert", "nbclient", "ipykernel", "httpx", "psycopg",
            "pandas", "matplotlib", "litellm", "chdb")
log = logging.getLogger(__name__)


class ProgressEvent(dict):
    """``{"notebook", "index", "total", "step", "cell", "cells"}`` or ``{"notebook", "done", "status"}``."""


ProgressCallback = Callable[[ProgressEvent], None]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _split_parameters(merged: Mapping[str, Any], notebooks: Sequence[NotebookInfo]) -> tuple[dict, dict]:
    """Split a params mapping into shared values and per-notebook sections (keyed by notebook name).

    A section for a known notebook that is not part of this run is ignored, so one params file
    serves any selection of notebooks.
    """
    names = {nb.name for nb in notebooks} | {nb.name for nb in list_notebooks()}
    sections = {k: v for k, v in merged.items() if k in names and isinstance(v, dict)}
    shared = {k: v for k, v in merged.items() if k not in sections}
    return shared, sections


def plan_run(
    names: Sequence[str], parameters: Mapping[str, Any] | None = None, *, params_file: str | Path | None = None
) -> list[tuple[NotebookInfo, dict[str, Any], dict[str, Any]]]:
    """Resolve notebooks and validate parameters for each, before any kernel starts.

    Returns ``(notebook, injected values, effective values)`` per notebook. A shared parameter applies
    to every notebook that declares it; a name no selected notebook declares is refused. A params file
    may also hold sections keyed by notebook name. Command-line values override the file.
    """
    notebooks = expand_names(list(names))
    from_file = load_params_file(params_file) if params_file else {}
    file_shared, file_sections = _split_parameters(from_file, notebooks)
    cli = dict(parameters or {})
    declared_anywhere: set[str] = set()
    plans, problems, refs = [], [], []
    for nb in notebooks:
        specs = read_declarations(nb.path)
        declared_anywhere |= set(specs)
        given = {k: v for k, v in {**file_shared, **cli}.items() if k in specs}
        given.update(file_sections.get(nb.name, {}))
        given.update({k: v for k, v in cli.items() if k in specs})
        try:
            values = validate_parameters(specs, given, notebook=nb.name)
        except ParameterError as exc:
            problems.append(exc.message)
            continue
        effective = {name: values.get(name, spec.default) for name, spec in specs.items()}
        plans.append((nb, values, effective))
        refs += secret_references(specs, effective)
    unknown = sorted((set(file_shared) | set(cli)) - declared_anywhere)
    if unknown:
        problems.insert(0, f"unknown parameter(s) {', '.join(unknown)}: no selected notebook declares them")
    if problems:
        raise ParameterError("\n".join(problems), hint="see `runbook params NOTEBOOK` for names, types and defaults")
    for ref in refs:
        ref.resolve()  # registers the value for the leak scan
    return plans


def _new_run_dir(out_dir: Path, started: datetime) -> tuple[str, Path]:
    run_id = uuid.uuid4().hex[:8]
    run_dir = out_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}-{run_id}"
    run_dir.mkdir(parents=True, exist_ok=False)
    return run_id, run_dir


def _read_checks(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    checks = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = out.get("data", {}) if out.get("output_type") in ("display_data", "execute_result") else {}
            checks.extend(data.get(CHECKS_MIME, []))
    return checks


def _step_titles(nb: nbformat.NotebookNode) -> list[str]:
    """For each cell, the latest markdown heading at or before it (the 'current step')."""
    titles, current = [], "start"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    current = line.lstrip("#").strip()
                    break
        titles.append(current)
    return titles


def _execute(nb_info: NotebookInfo, values: dict[str, Any], output: Path, *, index: int, total: int,
             progress: ProgressCallback | None, cell_timeout_s: float | None) -> str | None:
    """Execute one notebook with papermill; return an error description or None."""
    import papermill as pm

    from .engine import register_engine

    register_engine()
    source = nbformat.read(nb_info.path, as_version=4)
    titles = _step_titles(source)

    def on_cell(cell: Any, cell_index: int | None) -> None:
        if progress and cell_index is not None:
            step = titles[cell_index] if cell_index < len(titles) else titles[-1]
            progress(ProgressEvent(notebook=nb_info.name, index=index, total=total, step=step,
                                   cell=cell_index + 1, cells=len(titles)))

    try:
        pm.execute_notebook(
            str(nb_info.path), str(output), parameters=values, kernel_name="python3", engine_name="runbook",
            progress_bar=False, log_output=True, execution_timeout=cell_timeout_s,
            extra_arguments=KERNEL_ARGUMENTS, on_cell=on_cell,
        )
    except Exception as exc:  # papermill/nbclient raise many kinds; every one is an execution error
        if getattr(exc, "ename", None):
            detail = f"{exc.ename}: {exc.evalue}"
        else:
            lines = str(exc).strip().splitlines()
            detail = f"{type(exc).__name__}: {lines[-1] if lines else ''}"
        return redact(detail)[:2000]
    return None


def run_notebooks(
    names: Sequence[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    params_file: str | Path | None = None,
    out_dir: str | Path | None = None,
    html: bool = True,
    show_code: bool = False,
    progress: ProgressCallback | None = None,
    cell_timeout_s: float | None = 900,
) -> RunRecord:
    """Run notebooks headless and write a report folder. See the module docstring for the steps.

    Raises :class:`ParameterError` (exit code 3) before any kernel starts; every other outcome is in
    the returned record (``verdict``, ``exit_code``).
    """
    plans = plan_run(names, parameters, params_file=params_file)
    started = _utc_now()
    run_id, run_dir = _new_run_dir(Path(out_dir) if out_dir else DEFAULT_REPORTS_DIR, started)
    from . import __version__

    record = RunRecord(run_id=run_id, started_at=_iso(started), runbook_version=__version__,
                       host=socket.gethostname(), python=platform.python_version(),
                       packages=_package_versions(), run_dir=run_dir)
    log_path = run_dir / "run.log"
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    watched = [logging.getLogger("papermill"), logging.getLogger("runbook_lib")]
    for logger in watched:
        logger.addHandler(handler)
        logger.setLevel(min(logger.level or logging.INFO, logging.INFO))
    try:
        with isolated_jupyter_env():
            for index, (nb_info, values, effective) in enumerate(plans, start=1):
                nb_rec = NotebookRecord(name=nb_info.name, input_sha256=sha256_file(nb_info.path),
                                        parameters=effective)
                record.notebooks.append(nb_rec)
                output = run_dir / f"{nb_info.name}.ipynb"
                t0 = time.perf_counter()
                nb_rec.error = _execute(nb_info, values, output, index=index, total=len(plans),
                                        progress=progress, cell_timeout_s=cell_timeout_s)
                nb_rec.duration_s = round(time.perf_counter() - t0, 3)
                if output.is_file():
                    executed = nbformat.read(output, as_version=4)
                    nb_rec.output = output.name
                    nb_rec.checks = _read_checks(executed)
                else:
                    executed = None
                failed = any(c.get("status") in (Status.FAIL.value, Status.ERROR.value) for c in nb_rec.checks)
                nb_rec.status = "error" if nb_rec.error else ("failed" if failed else "passed")
                if html and executed is not None:
                    html_path = run_dir / f"{nb_info.name}.html"
                    html_path.write_text(render_html(
                        executed, name=nb_info.name, status=nb_rec.status, run_id=run_id,
                        parameters=effective, checks=nb_rec.checks, duration_s=nb_rec.duration_s,
                        show_code=show_code, error=nb_rec.error), encoding="utf-8")
                    nb_rec.html = html_path.name
                if progress:
                    progress(ProgressEvent(notebook=nb_info.name, done=True, status=nb_rec.status,
                                           index=index, total=len(plans)))
    finally:
        for logger in watched:
            logger.removeHandler(handler)
        handler.close()
    _seal(record, log_path)
    return record


def _seal(record: RunRecord, log_path: Path) -> None:
    """Scan and redact every artifact, hash them, write run.json and the manifest; files become read-only."""
    run_dir = record.run_dir
    assert run_dir is not None
    secrets = known_secrets()
    record.log = log_path.name
    for path in sorted(p for p in run_dir.iterdir() if p.is_file()):
        record.leaks += [vars(f) for f in scan_and_redact_file(path, secrets)]
    for nb in record.notebooks:
        if nb.output:
            nb.output_sha256 = sha256_file(run_dir / nb.output)
        if nb.html:
            nb.html_sha256 = sha256_file(run_dir / nb.html)
    record.log_sha256 = sha256_file(log_path)
    record.finished_at = _iso(_utc_now())
    record.decide_verdict()
    run_json = run_dir / RUN_JSON
    run_json.write_text(record.to_json(), encoding="utf-8")
    found = scan_and_redact_file(run_json, secrets)
    if found:  # a secret in the record itself (e.g. in check evidence): mark leaked and rewrite redacted
        record.leaks += [vars(f) for f in found]
        record.decide_verdict()
        run_json.write_text(record.to_json(), encoding="utf-8")
        scan_and_redact_file(run_json, secrets)
    write_manifest(run_dir)
    for path in run_dir.iterdir():
        path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
