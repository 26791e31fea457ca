"""``runbook demo``: the field guide's story, told end to end on the local sandbox.

1. The sandbox comes up with the field guide's situation: an ``early`` AgentOps database, on which the
   API's token endpoint fails with 500 (schema drift).
2. ``10_migration`` with ``apply=True`` reports the drift it finds and repairs it (its checks pass once
   the repair is verified, so the verdict can be green while the report shows what was wrong).
3. ``00_setup``: the preflight is green (config lint, proxy, wiring, token, collector), and the trace
   store's readiness gap (dated response models without a price row: the dashboard shows cost 0 for them)
   is found and repaired with price rows from LiteLLM's bundled price map. The runbooks run as
   an operator would on the proxy's host, with the proxy's ``LITELLM_MASTER_KEY`` in the environment
   (the config lint checks that every ``os.environ/`` reference of the config resolves there); the
   variable is removed again after the run.
4. ``20_callback_verification``: tagged requests make the round trip into the trace store, and one trace
   is read back through the dashboard's own route (``/v4/traces/detail``, with a session minted from the
   sandbox's JWT secret): model, tokens and a non-zero cost.
5. ``30_trace_analytics`` analyses those spans beside seven days of seeded synthetic history (several
   models, streaming, errors, multi-span traces), so the percentiles and plots have something to show,
   and reconciles its figures with the dashboard's own (project metrics and trace list, fetched).

The sandbox is brought down at the end in every case; the exit code is the run's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from ..notebooks import RUN_ORDER
from ..report import format_run_summary
from . import stack

__all__ = ["DEMO_ORDER", "DEMO_STATE_DIR", "run_demo", "write_demo_params"]

DEMO_ORDER = RUN_ORDER  # the demo runs what `runbook run all` runs, in the same order
DEMO_STATE_DIR = ".sandbox-demo"


def write_demo_params(state: dict[str, Any]) -> Path:
    """The sandbox's params.yaml plus the repairs: ``apply`` for 10_migration (the schema drift) and
    ``repair_store`` for 00_setup (the trace store's missing objects and price rows)."""
    params_file = Path(state["params_file"])
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    params.setdefault("10_migration", {})["apply"] = True
    params.setdefault("00_setup", {})["repair_store"] = True
    path = params_file.with_name("demo_params.yaml")
    path.write_text("# runbook demo: the sandbox parameters, with 10_migration and 00_setup applying their repairs\n"
                    + yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return path


def run_demo(
    *,
    state_dir: str | Path = DEMO_STATE_DIR,
    out_dir: str | Path | None = None,
    schema_level: str = "early",
    store_level: str = "current",
    agentops_src: str | Path | None = None,
    keep: bool = False,
    seed_traces: int = 2000,
    html: bool = True,
    say: Callable[[str], None] = print,
) -> Any:
    """Bring the sandbox up, run the notebooks in story order, bring it down; return the RunRecord.

    ``agentops_src`` runs the real AgentOps API of that checkout instead of the stand-in.
    """
    from ..runner import run_notebooks

    api = f"upstream API from {agentops_src}" if agentops_src else "API stand-in"
    say(f"sandbox: starting (schema level {schema_level}, store level {store_level}, {api}) in {state_dir}")
    state = stack.up(state_dir=state_dir, schema_level=schema_level, store_level=store_level,
                     agentops_src=agentops_src, progress=lambda m: say(f"  {m}"))
    try:
        for name, svc in sorted(state["services"].items()):
            say(f"  {name:13} {svc['url']}")
        if seed_traces:
            spans = stack.seed_trace_history(state, seed_traces)
            say(f"seeded {seed_traces} synthetic traces ({spans} spans over 7 days) for the analytics")
        params_file = write_demo_params(state)
        say(f"running {', '.join(DEMO_ORDER)}")
        with _proxy_environment(state):
            record = run_notebooks(list(DEMO_ORDER), params_file=params_file, out_dir=out_dir, html=html,
                                   progress=_progress(say))
    finally:
        if keep:
            say(f"sandbox left running (stop it with: runbook sandbox down --state-dir {state_dir})")
        else:
            stopped = stack.down(state_dir=state_dir)
            say(f"sandbox: stopped {', '.join(stopped)}")
    say(format_run_summary(record))  # the same summary as `runbook run`: warnings and failing checks named
    return record


@contextlib.contextmanager
def _proxy_environment(state: dict[str, Any]) -> Iterator[None]:
    """The proxy's ``LITELLM_MASTER_KEY`` in this process's environment for the run, then restored."""
    from ..secrets import SecretRef

    name = "LITELLM_MASTER_KEY"
    saved = os.environ.get(name)
    os.environ[name] = SecretRef("file", state["secret_files"]["master_key"]).resolve()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def _progress(say: Callable[[str], None]) -> Callable[[Any], None]:
    def show(event: Any) -> None:
        if event.get("done"):
            say(f"  {event.get('notebook')}: {event.get('status')}")

    return show
