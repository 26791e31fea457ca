"""HTML rendering of an executed notebook: summary header on top (verdict, run date, target hosts, runbook
version, counts by status, the checks failures first, the parameters)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import nbformat

from .checks import Check, Status
from .display import STATUS_COLOURS, checks_html, sort_failures_first
from .targets import Target

__all__ = ["render_html", "status_counts"]

_STYLE = """<style>
.runbook-summary{font-family:system-ui,sans-serif;border:1px solid #ccc;border-radius:6px;
  padding:12px 16px;margin:12px}
.runbook-summary h1{font-size:1.4em;margin:0 0 8px 0}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:bold}
.verdict-passed{background:#2e7d32}.verdict-failed{background:#c62828}.verdict-error{background:#6a1b9a}.verdict-skipped{background:#757575}
.verdict-leaked{background:#e65100}
table.runbook-checks,table.runbook-params{border-collapse:collapse;margin:8px 0;font-size:0.9em}
table.runbook-checks td,table.runbook-checks th,table.runbook-params td,table.runbook-params th{
  border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
tr.check-pass td:first-child{color:#2e7d32}tr.check-warn td:first-child{color:#ef6c00}
tr.check-fail td:first-child,tr.check-error td:first-child{color:#c62828;font-weight:bold}
table.runbook-facts{border-collapse:collapse;margin:4px 0 8px 0}
table.runbook-facts th{text-align:left;padding:2px 12px 2px 0;font-weight:600;vertical-align:top;white-space:nowrap}
table.runbook-facts td{padding:2px 0;vertical-align:top}
.status-count{font-weight:bold}
</style>"""

#: Check statuses in the header's order (most severe first), with the word each count reads as.
_COUNT_WORDS = {Status.ERROR: "errored", Status.FAIL: "failed", Status.WARN: "warned", Status.PASS: "passed",
                Status.SKIP: "skipped"}


_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S)
_REMOTE = re.compile(r"https?://")


def _params_table(parameters: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{html.escape(k)}</code></td><td><code>{html.escape(repr(v))}</code></td></tr>"
        for k, v in sorted(parameters.items())
    )
    head = "<tr><th>parameter</th><th>value (secrets as references)</th></tr>"
    return f'<table class="runbook-params">{head}{rows}</table>'


def _run_date(started_at: str) -> str:
    """``started_at`` (ISO, UTC) as ``YYYY-MM-DD HH:MM:SS UTC``; an unreadable value is shown as it is."""
    try:
        when = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    except ValueError:
        return started_at
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return f"{when:%Y-%m-%d %H:%M:%S} UTC"


def status_counts(checks: Sequence[Check]) -> dict[Status, int]:
    """How many checks have each status, most severe first, statuses with none left out."""
    return {s: n for s in _COUNT_WORDS if (n := sum(1 for c in checks if c.status is s))}


def _counts_html(checks: Sequence[Check]) -> str:
    counts = status_counts(checks)
    if not counts:
        return "no checks"
    return ", ".join(f'<span class="status-count status-{s.value}" style="color:{STATUS_COLOURS[s]}">'
                   f"{n} {_COUNT_WORDS[s]}</span>" for s, n in counts.items())


def _targets_html(targets: Sequence[Target]) -> str:
    if not targets:
        return "none (no URL or database parameter set)"
    return ", ".join(f"<code>{html.escape(t.endpoint)}</code> ({html.escape(t.parameter)})" for t in targets)


def _facts_html(*, run_id: str, started_at: str, duration_s: float, runbook_version: str,
                targets: Sequence[Target], checks: Sequence[Check]) -> str:
    rows = (
        ("run date", f"{html.escape(_run_date(started_at))} · {duration_s:,.1f} s"),
        ("target hosts", _targets_html(targets)),
        ("runbook version", f"agentops-runbooks {html.escape(runbook_version)}"),
        ("run", f"<code>{html.escape(run_id)}</code>"),
        ("checks", _counts_html(checks)),
    )
    body = "".join(f'<tr class="fact-{label.replace(" ", "-")}"><th>{label}</th><td>{value}</td></tr>'
                   for label, value in rows)
    return f'<table class="runbook-facts">{body}</table>'


def render_html(
    nb: nbformat.NotebookNode,
    *,
    name: str,
    status: str,
    run_id: str,
    parameters: dict[str, Any],
    checks: list[dict[str, Any]],
    duration_s: float,
    started_at: str,
    runbook_version: str,
    targets: Sequence[Target] = (),
    show_code: bool = False,
    error: str | None = None,
) -> str:
    """Render ``nb`` to standalone HTML (code hidden unless ``show_code``) with a summary header: the
    verdict, run date (UTC), target hosts, runbook version, counts by status, the checks (failures first)
    and the parameters (secrets as their references).

    No script or style is loaded from the network: the report opens offline.
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        exclude_input=not show_code,
        exclude_input_prompt=not show_code,
        exclude_output_prompt=True,
        embed_images=True,
    )
    exporter.mathjax_url = ""
    exporter.require_js_url = ""
    body, _ = exporter.from_notebook_node(nb)
    body = _SCRIPT.sub(lambda m: "" if _REMOTE.search(m[0]) else m[0], body)
    items = sort_failures_first(Check.from_dict(c) for c in checks)
    header = (
        f'{_STYLE}<div class="runbook-summary"><h1>{html.escape(name)} '
        f'<span class="verdict verdict-{html.escape(status)}">{html.escape(status)}</span></h1>'
        + _facts_html(run_id=run_id, started_at=started_at, duration_s=duration_s,
                      runbook_version=runbook_version, targets=targets, checks=items)
        + (f"<p><b>execution error:</b> <code>{html.escape(error)}</code></p>" if error else "")
        + "<h3>Checks</h3>"
        + (checks_html(items) if items else "<p>No checks were recorded: nothing was checked.</p>")
        + "<h3>Parameters</h3>"
        + _params_table(parameters)
        + "</div>"
    )
    match = re.search(r"<body[^>]*>", body)
    return body[: match.end()] + header + body[match.end():] if match else header + body
