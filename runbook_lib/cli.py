"""The ``runbook`` command line (also ``python -m runbook_lib``).

Exit codes: 0 passed, 1 failed checks, 2 execution error, 3 invalid parameters or usage, 4 secret leak.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from .errors import RunbookError, UsageError

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 by default; usage errors are 3 here
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


def _cmd_run(args: argparse.Namespace) -> int:
    from .report import format_run_summary
    from .runner import run_notebooks

    parameters = dict(args.parameters or [])
    record = run_notebooks(
        args.notebooks, parameters, params_file=args.params_file, out_dir=args.out,
        html=not args.no_html, show_code=args.show_code, progress=_Progress(),
        cell_timeout_s=args.cell_timeout,
    )
    print(format_run_summary(record))
    return record.exit_code


def _cmd_report_show(args: argparse.Namespace) -> int:
    from .record import load_run
    from .report import show_report

    print(show_report(args.run_dir))
    return load_run(args.run_dir).exit_code


def _cmd_report_verify(args: argparse.Namespace) -> int:
    from .report import verify_report

    problems = verify_report(args.run_dir)
    if problems:
        for problem in problems:
            print(f"CHANGED {problem}", file=sys.stderr)
        return 1
    print(f"ok: {args.run_dir} is exactly as the run left it")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="runbook", description="Runbooks for LiteLLM Proxy -> self-hosted AgentOps.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", help="the notebooks with one-line descriptions").set_defaults(func=_cmd_list)

    p = sub.add_parser("params", help="parameters of a notebook: types, defaults, help")
    p.add_argument("notebook")
    p.set_defaults(func=_cmd_params)

    p = sub.add_parser("run", help="execute notebooks headless and write a report folder")
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="names, unique prefixes, or `all`")
    p.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append", metavar=("NAME", "VALUE"))
    p.add_argument("-f", "--params-file", help="YAML mapping of parameters (sections per notebook allowed)")
    p.add_argument("--out", help="folder that receives the run folder (default: reports/)")
    p.add_argument("--no-html", action="store_true", help="skip the HTML rendering")
    p.add_argument("--show-code", action="store_true", help="keep code cells in the HTML")
    p.add_argument("--cell-timeout", type=float, default=900, help="seconds one cell may run (default 900)")
    p.set_defaults(func=_cmd_run)

    report = sub.add_parser("report", help="read back a report folder")
    rsub = report.add_subparsers(dest="report_command", required=True, parser_class=_Parser)
    p = rsub.add_parser("show", help="the checks table of a run")
    p.add_argument("run_dir")
    p.set_defaults(func=_cmd_report_show)
    p = rsub.add_parser("verify", help="recompute every hash; non-zero naming the file that changed")
    p.add_argument("run_dir")
    p.set_defaults(func=_cmd_report_verify)

    try:
        from .sandbox.cli import add_sandbox_commands
    except ImportError:  # the sandbox needs the `sandbox` extra
        pass
    else:
        add_sandbox_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code. Errors print their message and fix, never a traceback."""
    from .secrets import redact

    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except RunbookError as exc:
        print(redact(f"error: {exc}"), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
