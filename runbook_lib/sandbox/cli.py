"""The ``runbook sandbox up|down|status`` and ``runbook demo`` subcommands.

The lead's CLI calls :func:`add_sandbox_commands` with its subparsers; each subcommand sets ``func``
(``func(args) -> int`` exit code).
"""

from __future__ import annotations

import argparse
import json
import os

from ..commands import run_command
from . import stack
from .demo import DEMO_STATE_DIR, run_demo

__all__ = ["add_sandbox_commands", "api_label", "cmd_demo", "cmd_down", "cmd_status", "cmd_up"]


def _add_api_options(parser: argparse.ArgumentParser) -> None:
    """``--agentops-src`` and ``--store-level``, shared by ``sandbox up`` and ``demo``."""
    parser.add_argument("--agentops-src", default=os.environ.get("AGENTOPS_SRC") or None, metavar="PATH",
                        help="run the real AgentOps API from this checkout instead of the stand-in "
                             "(default: $AGENTOPS_SRC; needs Python 3.12 and uv)")
    parser.add_argument("--store-level", default="current", choices=stack.STORE_LEVELS,
                        help="trace store objects: bare (only otel_traces, the field guide's install) or "
                             "current (every object the API and dashboard use; default)")


def _say(message: str) -> None:
    print(message, flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    state = stack.up(args.state_dir, args.schema_level, store_level=args.store_level,
                     agentops_src=args.agentops_src or None, token_lifetime_s=args.token_lifetime_s, progress=_say)
    if args.seed_traces:
        spans = stack.seed_trace_history(state, args.seed_traces)
        _say(f"seeded {args.seed_traces} synthetic traces ({spans} spans, 7 days) for the sandbox project")
    _say(f"sandbox up in {state['timings']['total_s']:.1f} s (schema level {state['schema_level']}, "
         f"store level {state['store_level']})")
    for name, svc in sorted(state["services"].items()):
        extra = f"  collector {svc['otlp_url']}" if name == "trace_store" else ""
        extra = f"  ({api_label(svc)})" if name == "agentops_api" else extra
        _say(f"  {name:13} {svc['url']}{extra}")
    _say(f"  {'postgres':13} postgresql://127.0.0.1:{state['postgres']['port']}/{stack.DATABASE}")
    _say(f"params: {state['params_file']}  (secrets are file: references under {state['state_dir']}/secrets)")
    _say(f"try:    runbook run all -f {state['params_file']}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    stopped = stack.down(args.state_dir, purge=args.purge)
    _say(f"stopped: {', '.join(stopped) or 'nothing was running'}"
         + ("; state folder removed" if args.purge else f"; state kept in {args.state_dir}"))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    info = stack.status(args.state_dir)
    info["live_schema"] = _live_schema(args.state_dir, info)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        _say(f"sandbox {info['state_dir']} ({info['status']}, schema level {info['schema_level']}, "
             f"store level {info['store_level']})")
        for name, svc in sorted(info["services"].items()):
            state = "answers" if svc["answers"] else ("running, not answering" if svc["running"] else "stopped")
            extra = f"  ({api_label(svc)})" if name == "agentops_api" else ""
            _say(f"  {name:13} {state:22} pid {svc['pid']}  {svc['url']}{extra}")
        _say(f"  outside connection attempts refused: {len(info['egress_attempts'])}")
        _say(_live_schema_line(info["live_schema"], info.get("params_file") or "params.yaml"))
    up = all(s["answers"] for s in info["services"].values()) and info["services"]
    return 0 if up else 1


def _live_schema(state_dir: str, info: dict) -> dict:
    """The database's schema level as it is now (the drift code of 10_migration), when postgres runs."""
    from .live_level import live_schema

    if not (info["services"].get("postgres") or {}).get("running"):
        return {"error": "postgres is not running"}
    return live_schema(stack.load_state(state_dir))


def _live_schema_line(live: dict, params_file: str) -> str:
    if "error" in live:
        return f"  live schema: not read ({live['error']})"
    if live["clean"]:
        return f"  live schema: current: {live['sentence']}"
    repair = run_command("10_migration", params_file, apply=True)
    sentence = live["sentence"].rstrip(".")
    return f"  live schema: drifted, {live['differ']} object(s) differ: {sentence}; repair: {repair}"


def api_label(svc: dict) -> str:
    """``stand-in`` or ``upstream <commit or 'commit unknown'>, <src>`` for an AgentOps API record."""
    if svc.get("impl") != "upstream":
        return "stand-in"
    return f"upstream {svc.get('commit') or 'commit unknown'}, {svc.get('src')}"


def cmd_demo(args: argparse.Namespace) -> int:
    record = run_demo(state_dir=args.state_dir, out_dir=args.out, schema_level=args.schema_level,
                      store_level=args.store_level, agentops_src=args.agentops_src or None,
                      keep=args.keep, seed_traces=args.seed_traces, say=_say)
    return int(record.exit_code)


def add_sandbox_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sandbox up|down|status`` and ``demo`` to the ``runbook`` command line."""
    sandbox = subparsers.add_parser("sandbox", help="local sandbox: PostgreSQL, AgentOps stand-ins, LiteLLM proxy")
    actions = sandbox.add_subparsers(dest="sandbox_command", required=True)

    up = actions.add_parser("up", help="start the sandbox on 127.0.0.1 and write params.yaml")
    up.add_argument("--state-dir", default=stack.DEFAULT_STATE_DIR, help="state folder (default: .sandbox)")
    up.add_argument("--schema-level", default="early", choices=stack.SCHEMA_LEVELS,
                    help="AgentOps database level (default: early, the field guide's situation)")
    up.add_argument("--token-lifetime-s", type=float, default=None,
                    help="lifetime of the API's JWTs in seconds (default: 30 days, as upstream)")
    up.add_argument("--seed-traces", type=int, default=0, metavar="N",
                    help="insert N seeded synthetic traces (7 days of history) for analytics (default: 0)")
    _add_api_options(up)
    up.set_defaults(func=cmd_up)

    down = actions.add_parser("down", help="stop every sandbox process (by pid)")
    down.add_argument("--state-dir", default=stack.DEFAULT_STATE_DIR, help="state folder (default: .sandbox)")
    down.add_argument("--purge", action="store_true", help="also delete the state folder and the database files")
    down.set_defaults(func=cmd_down)

    status = actions.add_parser("status", help="show the sandbox URLs and whether each service answers")
    status.add_argument("--state-dir", default=stack.DEFAULT_STATE_DIR, help="state folder (default: .sandbox)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    demo = subparsers.add_parser("demo", help="sandbox up, run the notebooks in story order, sandbox down")
    demo.add_argument("--state-dir", default=DEMO_STATE_DIR, help=f"state folder (default: {DEMO_STATE_DIR})")
    demo.add_argument("--out", default=None, help="reports folder (default: reports/)")
    demo.add_argument("--schema-level", default="early", choices=stack.SCHEMA_LEVELS,
                      help="the database's starting schema (default: early, the field guide's drifted one)")
    demo.add_argument("--keep", action="store_true", help="leave the sandbox running afterwards")
    demo.add_argument("--seed-traces", type=int, default=2000, metavar="N",
                      help="synthetic traces of history for 30_trace_analytics (default: 2000; 0 for none)")
    _add_api_options(demo)
    demo.set_defaults(func=cmd_demo)
