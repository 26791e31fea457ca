"""The ``runbook`` command line (also ``python -m runbook_lib``).

Exit codes: 0 passed, 1 failed checks (or warnings under ``--fail-on warn``), 2 execution error, 3 invalid
parameters or usage, 4 secret leak, 5 interrupted, 6 incomplete (a notebook checked nothing: no check
recorded, or every check skipped).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .errors import RunbookError, UsageError

__all__ = ["EXIT_BROKEN_PIPE", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 by default; usage errors are 3 here
        self.print_usage(sys.stderr)
        raise UsageError(message, hint=f"see `{self.prog} --help`")


def _cmd_list(args: argparse.Namespace) -> int:
    from .notebooks import list_notebooks

    for nb in list_notebooks():
        print(f"{nb.name:28} {nb.description}")
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    from .notebooks import find_notebook
    from .params import read_declarations

    if args.template:
        return _cmd_params_template(args)
    if not args.notebook:
        raise UsageError("name a notebook (or use --template all)", hint="see `runbook list`")
    nb = find_notebook(args.notebook)
    print(f"Parameters of {nb.name} ({nb.path}):")
    for spec in read_declarations(nb.path).values():
        default = "required" if spec.required else f"default {spec.default!r}"
        print(f"  {spec.name}: {spec.display_type} ({default})")
        if spec.help:
            print(f"      {spec.help}")
    return 0


class _Progress:
    """Progress on stderr: the notebook and its current step, redrawn in place on a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = ""

    def __call__(self, event: dict[str, Any]) -> None:
        if event.get("done"):
            line = f"[{event['index']}/{event['total']}] {event['notebook']}: {event['status']}"
        else:
            line = (f"[{event['index']}/{event['total']}] {event['notebook']}: {event['step']} "
                    f"(cell {event['cell']}/{event['cells']})")
            if not self.tty and line.rsplit(" (cell", 1)[0] == self.last.rsplit(" (cell", 1)[0]:
                return
        if self.tty:
            sys.stderr.write("\r\033[K" + line + ("\n" if event.get("done") else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
        self.last = line


def _repair_seen(path: Any) -> None:
    """Repair every unsealed run folder at ``path`` (a run folder or a reports folder) on sight."""
    from pathlib import Path

    from .interrupted import repair_unsealed

    for record in repair_unsealed(Path(path), by="`runbook` (on sight)"):
        print(f"repaired interrupted run: {record.run_dir} (verdict {record.verdict})", file=sys.stderr)


def _cmd_run(args: argparse.Namespace) -> int:
    from .runner import DEFAULT_REPORTS_DIR, run_notebooks

    _repair_seen(args.out or DEFAULT_REPORTS_DIR)
    parameters = dict(args.parameters or [])
    record = run_notebooks(
        args.notebooks, parameters, params_file=args.params_file, out_dir=args.out,
        html=not args.no_html, show_code=args.show_code, progress=_Progress(),
        cell_timeout_s=args.cell_timeout, sign_key=args.sign_key,
    )
    _emit_run_outputs(record, args)
    if record.signature is not None:
        print(f"signed: root digest {record.signature.root_digest} (key {record.signature.key_fingerprint})")
    return _run_exit_code(record, args)


def _emit_run_outputs(record: Any, args: argparse.Namespace) -> None:
    """The summary (on stderr with ``--json``, whose stdout is the run record) and the JUnit file."""
    from .report import format_run_summary

    if getattr(args, "junit", None):
        from .junit import write_junit

        written = write_junit(record, args.junit)
        print(f"junit: {written}", file=sys.stderr)
    if getattr(args, "json", False):
        print(format_run_summary(record), file=sys.stderr)
        print(record.to_json(), end="")
    else:
        print(format_run_summary(record))


def _cmd_params_template(args: argparse.Namespace) -> int:
    from .params_template import params_template

    print(params_template([args.template]), end="")
    return 0


def _show_text(args: argparse.Namespace) -> str:
    """``report show``'s text: every check, or with ``--failed`` only the failing ones with remedies."""
    from .record import load_run
    from .report import format_run_summary, show_report

    if getattr(args, "failed", False):
        from .report_history import format_failed

        record = load_run(args.run_dir)
        return format_failed(record) + "\n\n" + format_run_summary(record)
    return show_report(args.run_dir)


def _cmd_report_list(args: argparse.Namespace) -> int:
    from .report_history import format_run_list, list_runs
    from .runner import DEFAULT_REPORTS_DIR

    print(format_run_list(list_runs(args.folder or DEFAULT_REPORTS_DIR)))
    return 0


def _cmd_report_diff(args: argparse.Namespace) -> int:
    from .record import load_run
    from .report_history import diff_runs, format_diff

    print(format_diff(diff_runs(load_run(args.run_a), load_run(args.run_b))))
    return 0


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--junit", metavar="PATH",
                        help="also write JUnit XML there: one test case per check, failures with summary and remedy")
    parser.add_argument("--json", action="store_true",
                        help="print the run record (run.json) on stdout; the summary goes to stderr")


def _add_history_commands(rsub: Any) -> None:
    p = rsub.add_parser("list", help="the runs under a reports folder, oldest first, with their verdicts")
    p.add_argument("folder", nargs="?", help="reports folder (default: reports/)")
    p.set_defaults(func=_cmd_report_list)
    p = rsub.add_parser("diff", help="checks whose status changed between two runs (and 30's figures side by side)")
    p.add_argument("run_a", help="the earlier run folder")
    p.add_argument("run_b", help="the later run folder")
    p.set_defaults(func=_cmd_report_diff)


def _cmd_lab(args: argparse.Namespace) -> int:
    import subprocess

    from .lab import lab_launch
    from .lab_params import PARAMS_FILE_ENV

    launch = lab_launch(args.params_file, root=args.root, port=args.port)
    named = launch.env.get(PARAMS_FILE_ENV)
    print(f"JupyterLab at {launch.cwd}" + (f"; notebooks read parameters from {named}" if named else ""),
          file=sys.stderr)
    return subprocess.call(launch.argv, cwd=launch.cwd, env={**os.environ, **launch.env})


def _add_lab_command(sub: Any) -> None:
    p = sub.add_parser("lab", help="JupyterLab at the project root; notebooks read their parameters from a params file")
    p.add_argument("-f", "--params-file",
                   help="params file the notebooks read (default: params.yaml, else .sandbox/params.yaml)")
    p.add_argument("--root", help="folder Lab opens (default: the current folder)")
    p.add_argument("--port", type=int, help="port for the Lab server (default: Jupyter's choice)")
    p.set_defaults(func=_cmd_lab)


def _version_text() -> str:
    from . import __version__

    return f"runbook (agentops-runbooks) {__version__}"


def _run_exit_code(record: Any, args: argparse.Namespace) -> int:
    """The exit code under ``--fail-on`` (``--strict`` is ``--fail-on warn``), saying when it changed it."""
    from .fail_on import exit_code_for, strict_note

    fail_on = "warn" if getattr(args, "strict", False) else getattr(args, "fail_on", "fail")
    note = strict_note(record, fail_on)
    if note:
        print(note)
    return exit_code_for(record, fail_on)


def _add_strictness_options(parser: argparse.ArgumentParser) -> None:
    from .fail_on import FAIL_ON_LEVELS

    parser.add_argument("--fail-on", choices=FAIL_ON_LEVELS, default="fail",
                        help="`warn`: warnings (and a notebook that checked nothing) also give exit code 1, "
                        "for CI (default: fail)")
    parser.add_argument("--strict", action="store_true", help="the same as --fail-on warn")


def _cmd_report_show(args: argparse.Namespace) -> int:
    from .record import load_run
    from .report import verify_report

    _repair_seen(args.run_dir)
    problems = verify_report(args.run_dir, pubkey=args.pubkey)
    if problems:
        banner = "!" * 72
        print(f"{banner}\nWARNING: this report does NOT match what its run sealed; do not trust it:",
              file=sys.stderr)
        for problem in problems:
            print(f"  CHANGED {problem}", file=sys.stderr)
        print(banner, file=sys.stderr)
    print(_show_text(args))
    code = load_run(args.run_dir).exit_code
    return code if not problems else max(code, 1)


def _cmd_report_verify(args: argparse.Namespace) -> int:
    from .report import verify_report
    from .signing import describe

    _repair_seen(args.run_dir)
    problems = verify_report(args.run_dir, pubkey=args.pubkey)
    if problems:
        for problem in problems:
            print(f"CHANGED {problem}", file=sys.stderr)
        return 1
    signed = describe(args.run_dir)
    if args.pubkey:
        print(f"ok: {args.run_dir} is exactly as the run left it; {signed}")
    else:
        print(f"ok: {args.run_dir} is exactly as the run left it"
              + (f" ({signed}; pass --pubkey to check the signature)" if signed else ""))
    return 0


def _cmd_report_repair(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .interrupted import repair_unsealed

    if not Path(args.folder).is_dir():
        from .record import not_a_run

        raise not_a_run(args.folder)
    repaired = repair_unsealed(Path(args.folder), by="`runbook report repair`")
    for record in repaired:
        print(f"repaired: {record.run_dir} (verdict {record.verdict}, exit code {record.exit_code})")
    if not repaired:
        print(f"nothing to repair in {args.folder}: no unsealed run folder whose runner has stopped")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="runbook", description="Runbooks for LiteLLM Proxy -> self-hosted AgentOps.",
                     epilog="exit codes: 0 passed, 1 failed, 2 error, 3 usage, 4 leaked, 5 interrupted, 6 incomplete")
    parser.add_argument("--version", action="version", version=_version_text())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", help="the notebooks with one-line descriptions").set_defaults(func=_cmd_list)

    p = sub.add_parser("params", help="parameters of a notebook: types, defaults, help")
    p.add_argument("notebook", nargs="?", help="a notebook name or unique prefix (see `runbook list`)")
    p.add_argument("--template", metavar="NOTEBOOK",
                   help="print a params file for NOTEBOOK (or `all`) with every secret as a reference")
    p.set_defaults(func=_cmd_params)

    p = sub.add_parser("run", help="execute notebooks headless and write a report folder")
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK",
                   help="names, unique prefixes, or `all` (runs 10_migration, 00_setup, 20_callback_verification, "
                   "30_trace_analytics in that order)")
    p.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="set one parameter (repeatable), e.g. -p apply true, -p start -30d, -p models '[a, b]'; "
                   "overrides the params file; `runbook params NOTEBOOK` lists names and types")
    p.add_argument("-f", "--params-file", help="YAML mapping of parameters (sections per notebook allowed)")
    p.add_argument("--out", help="folder that receives the run folder (default: reports/)")
    p.add_argument("--no-html", action="store_true", help="skip the HTML rendering")
    p.add_argument("--show-code", action="store_true", help="keep code cells in the HTML")
    p.add_argument("--cell-timeout", type=float, default=900, help="seconds one cell may run (default 900)")
    p.add_argument("--sign-key", metavar="PATH",
                   help="ed25519 private key (PEM or OpenSSH, mode 0600): sign the report's manifest")
    _add_strictness_options(p)
    _add_output_options(p)
    p.set_defaults(func=_cmd_run)

    report = sub.add_parser("report", help="read back a report folder")
    rsub = report.add_subparsers(dest="report_command", required=True, parser_class=_Parser)
    p = rsub.add_parser("show", help="the checks table of a run (verified first; warns on any mismatch)")
    p.add_argument("run_dir", help="a run folder, e.g. reports/20261127T210000Z-ab12cd34")
    p.add_argument("--pubkey", metavar="PATH", help="also check the signature with this ed25519 public key")
    p.add_argument("--failed", action="store_true", help="only the failing checks, each with its remedy")
    p.set_defaults(func=_cmd_report_show)
    _add_history_commands(rsub)
    p = rsub.add_parser("verify", help="check the whole folder; non-zero naming what changed")
    p.add_argument("run_dir", help="a run folder, e.g. reports/20261127T210000Z-ab12cd34")
    p.add_argument("--pubkey", metavar="PATH", help="also check the signature with this ed25519 public key")
    p.set_defaults(func=_cmd_report_verify)
    p = rsub.add_parser("repair", help="scan, redact, mark `interrupted` and seal folders a runner left unsealed")
    p.add_argument("folder", help="a run folder, or a reports folder holding run folders")
    p.set_defaults(func=_cmd_report_repair)

    _add_lab_command(sub)

    try:
        from .sandbox.cli import add_sandbox_commands
    except ImportError:  # the sandbox needs the `sandbox` extra
        pass
    else:
        add_sandbox_commands(sub)
    return parser


_PARAMETER_FLAGS = ("-p", "--parameter")


def _take_parameters(argv: list[str]) -> tuple[list[str], list[list[str]]]:
    """Lift ``-p NAME VALUE`` triples out of ``runbook run`` arguments before argparse sees them, so a
    value that starts with a dash (``-p start -30d``) is a value, not an unknown option."""
    if not argv or argv[0] != "run":
        return argv, []
    rest, taken, i = [], [], 0
    while i < len(argv):
        if argv[i] in _PARAMETER_FLAGS and i + 2 < len(argv) and not argv[i + 1].startswith("-"):
            taken.append([argv[i + 1], argv[i + 2]])
            i += 3
            continue
        if argv[i] == "--":
            rest += argv[i:]
            break
        rest.append(argv[i])
        i += 1
    return rest, taken


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code. Errors print their message and fix, never a traceback."""
    from .secrets import redact

    try:
        rest, parameters = _take_parameters(list(sys.argv[1:] if argv is None else argv))
        args = build_parser().parse_args(rest)
        if parameters:
            args.parameters = parameters + list(getattr(args, "parameters", None) or [])
        return int(args.func(args))
    except RunbookError as exc:
        print(redact(f"error: {exc}"), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _reader_went_away()


#: The exit code of a program the shell saw killed by SIGPIPE (128 + 13): ``runbook params X | head``.
EXIT_BROKEN_PIPE = 141


def _reader_went_away() -> int:
    """The reader of stdout closed it (``| head``): stop quietly, as a program killed by SIGPIPE does. stdout
    points at /dev/null from here, so the interpreter's final flush cannot fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
