"""HTML rendering of an executed notebook: summary header (verdict, parameters, checks) on top."""

from __future__ import annotations

import html
import re
from typing import Any

import nbformat

from .checks import Check
from .display import checks_html

__all__ = ["render_html"]

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
</style>"""


_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S)
_REMOTE = re.compile(r"https?://")


def _params_table(parameters: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{html.escape(k)}</code></td><td><code>{html.escape(repr(v))}</code></td></tr>"
        for k, v in sorted(parameters.items())
    )
    head = "<tr><th>parameter</th><th>value (secrets as references)</th></tr>"
    return f'<table class="runbook-params">{head}{rows}</table>'


def render_html(
    nb: nbformat.NotebookNode,
    *,
    name: str,
    status: str,
    run_id: str,
    parameters: dict[str, Any],
    checks: list[dict[str, Any]],
    duration_s: float,
    show_code: bool = False,
    error: str | None = None,
) -> str:
    """Render ``nb`` to standalone HTML (code hidden unless ``show_code``) with a summary header.

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
    header = (
        f'{_STYLE}<div class="runbook-summary"><h1>{html.escape(name)} '
        f'<span class="verdict verdict-{html.escape(status)}">{html.escape(status)}</span></h1>'
        f"<p>run <code>{html.escape(run_id)}</code> · {duration_s:.1f} s</p>"
        + (f"<p><b>execution error:</b> <code>{html.escape(error)}</code></p>" if error else "")
        + "<h3>Checks</h3>"
        + (checks_html([Check.from_dict(c) for c in checks]) if checks else "<p>No checks were recorded.</p>")
        + "<h3>Parameters</h3>"
        + _params_table(parameters)
        + "</div>"
    )
    match = re.search(r"<body[^>]*>", body)
    return body[: match.end()] + header + body[match.end():] if match else header + body
