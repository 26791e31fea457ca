"""The headless runner: notebooks + parameters -> an immutable, verified report folder.

Order of work: validate every notebook's parameters (no kernel yet); create
``reports/<UTC timestamp>-<id>/``; execute each notebook with papermill (a failing one does not
stop the others); render HTML; read back the checks; scan and redact every artifact; write
``run.json`` and the ``SHA256SUMS`` manifest; make the files read-only; sign the manifest when asked.

The folder is private (0700, files 0600) from its creation, and carries an *unsealed* marker until it
is sealed: SIGTERM or a crash of the runner seals it at once as ``interrupted``; after a SIGKILL the
next ``runbook`` command that meets it does (see :mod:`runbook_lib.interrupted`). Notebooks may write
exports into ``$RUNBOOK_EXPORT_DIR`` (``exports/`` in the folder); they are scanned like the rest.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat

from .cell_progress import CellProgress
from .checks import CHECKS_MIME, Status
from .errors import ParameterError, UsageError
from .html_report import render_html
from .interrupted import write_marker
from .kernel_env import KERNEL_ARGUMENTS, isolated_jupyter_env
from .leaks import scan_and_redact_file
from .notebooks import NotebookInfo, expand_names, list_notebooks
from .params import load_params_file, read_declarations, secret_references, validate_parameters
from .record import RUN_JSON, NotebookRecord, RunRecord, notebook_status, sha256_file
from .report_tree import UNSEALED_MARKER, artifact_files, seal_tree
from .secrets import known_secrets, redact
from .targets import target_hosts

__all__ = ["run_notebooks", "plan_run", "ProgressEvent", "DEFAULT_REPORTS_DIR", "EXPORT_DIR_ENV", "RunInterrupted",
           "new_record", "read_checks", "seal_run"]

EXPORT_DIR_ENV = "RUNBOOK_EXPORT_DIR"

DEFAULT_REPORTS_DIR = Path("reports")
PACKAGES = ("agentops-runbooks", "papermill", "nbconvert", "nbclient", "ipykernel", "httpx", "psycopg",
            "pandas", "matplotlib", "litellm", "chdb")
log = logging.getLogger(__name__)


class RunInterrupted(BaseException):
    """The runner received SIGTERM; the run stops and its folder is sealed as ``interrupted``."""


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
        from .cli_suggest import did_you_mean

        near = "".join(did_you_mean(name, declared_anywhere) for name in unknown)
        problems.insert(0, f"unknown parameter(s) {', '.join(unknown)}{near}: no selected notebook declares them")
    if problems:
        which = " or ".join(f"`runbook params {nb.name}`" for nb in notebooks)
        raise ParameterError("\n".join(problems), hint=f"see {which} for names, types and defaults")
    for ref in refs:
        ref.resolve()  # registers the value for the leak scan
    return plans


def _new_run_dir(out_dir: Path, started: datetime) -> tuple[str, Path]:
    run_id = uuid.uuid4().hex[:8]
    run_dir = out_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}-{run_id}"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        run_dir.mkdir(mode=0o700, exist_ok=False)
        run_dir.chmod(0o700)
    except OSError as exc:
        raise UsageError(f"cannot create the report folder under {out_dir} ({exc.strerror or type(exc).__name__})",
                         hint="pass --out with a folder you can write to") from None
    return run_id, run_dir


def read_checks(nb: nbformat.NotebookNode | Path) -> list[dict[str, Any]]:
    """The checks a notebook displayed, each id once: a check shown again (a cell re-run, a section
    shown twice) keeps its first place and its latest result. An unreadable notebook file has none."""
    if isinstance(nb, Path):
        try:
            node = nbformat.read(nb, as_version=4)
        except Exception:  # a half-written or redacted-to-invalid notebook
            return []
    else:
        node = nb
    checks = []
    for cell in node.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = out.get("data", {}) if out.get("output_type") in ("display_data", "execute_result") else {}
            checks.extend(data.get(CHECKS_MIME, []))
    latest: dict[Any, dict[str, Any]] = {}
    for check in checks:
        latest[check.get("id")] = check  # an existing key keeps its position and takes the newer value
    return list(latest.values())


def _execute(nb_info: NotebookInfo, values: dict[str, Any], output: Path, *, index: int, total: int,
             progress: ProgressCallback | None, cell_timeout_s: float | None) -> str | None:
    """Execute one notebook with papermill; return an error description or None."""
    import papermill as pm

    def report(step: str, cell: int, cells: int) -> None:
        if progress:
            progress(ProgressEvent(notebook=nb_info.name, index=index, total=total, step=step, cell=cell,
                                   cells=cells))

    try:
        pm.execute_notebook(
            str(nb_info.path), str(output), parameters=values, kernel_name="python3", progress_bar=False,
            log_output=True, execution_timeout=cell_timeout_s, extra_arguments=KERNEL_ARGUMENTS,
            **CellProgress(report).hooks(),
        )
    except Exception as exc:  # papermill/nbclient raise many kinds; every one is an execution error
        ename = getattr(exc, "ename", None)
        if ename:
            detail = f"{ename}: {getattr(exc, 'evalue', None)}"
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
    sign_key: str | Path | None = None,
) -> RunRecord:
    """Run notebooks headless and write a report folder. See the module docstring for the steps.

    Raises :class:`ParameterError` (exit code 3) before any kernel starts; every other outcome is in
    the returned record (``verdict``, ``exit_code``).
    """
    plans = plan_run(names, parameters, params_file=params_file)
    if sign_key is not None:
        from .signing import load_private_key

        load_private_key(sign_key)  # a bad key is a usage error before anything runs
    refs = [str(ref) for _, _, effective in plans for ref in _references(effective)]
    started = _utc_now()
    with _private_umask():
        run_id, run_dir = _new_run_dir(Path(out_dir) if out_dir else DEFAULT_REPORTS_DIR, started)
        record = new_record(run_dir, run_id, _iso(started))
        write_marker(run_dir, run_id=run_id, started_at=record.started_at,
                     notebooks=[nb.name for nb, _, _ in plans], secret_references=refs)
        try:
            with _sigterm_interrupts():
                _execute_all(record, plans, html=html, show_code=show_code, progress=progress,
                             cell_timeout_s=cell_timeout_s, params_file=params_file)
        except (RunInterrupted, Exception) as exc:
            for nb in record.notebooks:
                if nb.status == "pending":
                    nb.status = "interrupted"
            reason = ("the runner received SIGTERM" if isinstance(exc, RunInterrupted)
                      else f"the runner failed: {redact(type(exc).__name__ + ': ' + str(exc))[:500]}")
            seal_run(record, known_secrets(), interrupted=reason)
            if isinstance(exc, RunInterrupted):
                return record
            raise
        seal_run(record, known_secrets())
    if sign_key is not None:
        from .signing import sign_report

        record.signature = sign_report(run_dir, sign_key)
    return record


def _references(effective: Mapping[str, Any]) -> Iterable[str]:
    from .secrets import is_reference

    return [v for v in effective.values() if is_reference(v)]


@contextlib.contextmanager
def _private_umask() -> Iterator[None]:
    """Files and folders created meanwhile (by this process and the kernels it starts) are private."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """In the main thread, turn SIGTERM into :class:`RunInterrupted` so the folder gets sealed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise RunInterrupted()

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def new_record(run_dir: Path, run_id: str, started_at: str) -> RunRecord:
    """An empty record for a run folder, with this machine's facts."""
    from . import __version__

    return RunRecord(run_id=run_id, started_at=started_at, runbook_version=__version__,
                     host=socket.gethostname(), python=platform.python_version(),
                     packages=_package_versions(), run_dir=run_dir)


def _execute_all(record: RunRecord, plans: list[tuple[NotebookInfo, dict[str, Any], dict[str, Any]]], *,
                 html: bool, show_code: bool, progress: ProgressCallback | None,
                 cell_timeout_s: float | None, params_file: str | Path | None = None) -> None:
    run_dir = record.run_dir
    assert run_dir is not None
    run_id = record.run_id
    exports = run_dir / "exports"
    exports.mkdir(mode=0o700)
    saved_export_dir = os.environ.get(EXPORT_DIR_ENV)
    os.environ[EXPORT_DIR_ENV] = str(exports)
    log_path = run_dir / "run.log"
    record.log = log_path.name
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    watched = [logging.getLogger("papermill"), logging.getLogger("runbook_lib")]
    for logger in watched:
        logger.addHandler(handler)
        logger.setLevel(min(logger.level or logging.INFO, logging.INFO))
    try:
        with isolated_jupyter_env(params_file):
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
                    nb_rec.checks = read_checks(executed)
                else:
                    executed = None
                failed = any(c.get("status") in (Status.FAIL.value, Status.ERROR.value) for c in nb_rec.checks)
                nb_rec.status = "error" if nb_rec.error else ("failed" if failed else notebook_status(nb_rec.checks))
                if html and executed is not None:
                    html_path = run_dir / f"{nb_info.name}.html"
                    html_path.write_text(render_html(
                        executed, name=nb_info.name, status=nb_rec.status, run_id=run_id,
                        parameters=effective, checks=nb_rec.checks, duration_s=nb_rec.duration_s,
                        started_at=record.started_at, runbook_version=record.runbook_version,
                        targets=target_hosts(read_declarations(nb_info.path), effective),
                        show_code=show_code, error=nb_rec.error), encoding="utf-8")
                    nb_rec.html = html_path.name
                if progress:
                    progress(ProgressEvent(notebook=nb_info.name, done=True, status=nb_rec.status,
                                           index=index, total=len(plans)))
    finally:
        for logger in watched:
            logger.removeHandler(handler)
        handler.close()
        if saved_export_dir is None:
            os.environ.pop(EXPORT_DIR_ENV, None)
        else:
            os.environ[EXPORT_DIR_ENV] = saved_export_dir


def seal_run(record: RunRecord, secrets: Iterable[str], *, interrupted: str | None = None) -> None:
    """Scan and redact every file of the tree, hash, write run.json, remove the unsealed marker and
    seal (manifest, read-only files). ``interrupted`` says why the run did not finish."""
    run_dir = record.run_dir
    assert run_dir is not None
    secrets = frozenset(secrets)
    record.interrupted = interrupted or record.interrupted
    for path in artifact_files(run_dir):
        if path.name != RUN_JSON or path.parent != run_dir:
            record.leaks += [vars(f) | {"file": path.relative_to(run_dir).as_posix()}
                             for f in scan_and_redact_file(path, secrets)]
    for nb in record.notebooks:
        nb.output_sha256 = sha256_file(run_dir / nb.output) if nb.output and (run_dir / nb.output).is_file() else None
        nb.html_sha256 = sha256_file(run_dir / nb.html) if nb.html and (run_dir / nb.html).is_file() else None
    log_path = run_dir / (record.log or "run.log")
    record.log_sha256 = sha256_file(log_path) if log_path.is_file() else None
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
    (run_dir / UNSEALED_MARKER).unlink(missing_ok=True)
    seal_tree(run_dir)
