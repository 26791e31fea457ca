"""The one display layer of the runbooks: checks, verdicts, text, code, data tables and figures.

Every function builds one output bundle with an HTML rendering (inline styles only, because
JupyterLab drops ``<style>`` elements from untrusted outputs) and a ``text/plain`` fallback that reads
well in papermill's ``.ipynb`` and in a terminal. Every text is redacted of known secrets before it
is shown. This is the only module of ``runbook_lib`` that talks to ``IPython.display``.

Data tables format each column by its *kind* (:data:`COLUMN_KINDS`): text left-aligned and never
cut, counts as integers, durations in ms with sensible precision, USD to the cent (or 4 significant
digits below a dollar), ratios and percentages with one decimal, times in UTC; missing values are
blank; wide tables scroll horizontally.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .checks import CHECKS_MIME, Check, Severity, Status, verdict_of
from .secrets import redact

__all__ = [
    "COLUMN_KINDS",
    "brief_traceback",
    "ColumnKind",
    "checks_html",
    "checks_text",
    "code_html",
    "column_kind",
    "format_value",
    "show_checks",
    "show_code",
    "show_figure",
    "show_markdown",
    "show_table",
    "show_verdict",
    "sort_failures_first",
    "table_html",
    "table_text",
    "verdict_html",
    "verdict_line",
]

E = TypeVar("E", bound=BaseException)

# Every style is inline and uses only properties (and values) JupyterLab's HTML sanitizer keeps for
# untrusted outputs, so the colours survive a notebook reopened in JupyterLab.
# Status colours, inline on every element that shows one.
STATUS_COLOURS: dict[Status, str] = {
    Status.PASS: "#2e7d32",
    Status.WARN: "#ef6c00",
    Status.FAIL: "#c62828",
    Status.ERROR: "#c62828",
    Status.SKIP: "#616161",
}
_STATUS_ORDER = {Status.ERROR: 0, Status.FAIL: 1, Status.WARN: 2, Status.PASS: 3, Status.SKIP: 4}
_SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.MAJOR: 1, Severity.MINOR: 2}
_VERDICT_COLOURS = {"passed": "#2e7d32", "failed": "#c62828", "skipped": "#757575"}

_TABLE = "border-collapse:collapse;margin:6px 0;font-size:0.9em"
_CELL = "border:1px solid #ddd;padding:3px 8px;vertical-align:top"
_TEXT_CELL = f"{_CELL};text-align:left;white-space:pre-wrap;word-break:normal"
_NUM_CELL = f"{_CELL};text-align:right;white-space:nowrap"
_TIME_CELL = f"{_CELL};text-align:left;white-space:nowrap"
_HEAD_CELL = f"{_CELL};background:#f5f5f5;font-weight:600;white-space:nowrap"
_SCROLL = "overflow-x:auto;max-width:100%"
#: A check id under its title: no chip background, which in JupyterLab and nbconvert's CSS covers the
#: underscores of the title line above it ("fix_org_invites" read "fix org invites").
_ID_CODE = "background:none;padding:0"
_PRE = ("font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:0.9em;background:#f6f8fa;"
        "border:1px solid #ddd;border-radius:4px;padding:8px 10px;margin:6px 0;white-space:pre-wrap;"
        "word-break:normal;overflow-wrap:break-word")


# ------------------------------------------------------------------------------------------------
# Column kinds
# ------------------------------------------------------------------------------------------------


def _is_missing(value: Any) -> bool:
    """None, NaN, NaT and pandas' NA; containers are never missing."""
    if value is None:
        return True
    import pandas as pd

    return bool(pd.isna(value)) if pd.api.types.is_scalar(value) else False


def _number(value: Any) -> float:
    return float(value.item() if hasattr(value, "item") else value)


def _fmt_text(value: Any) -> str:
    return str(value)


def _fmt_count(value: Any) -> str:
    return f"{round(_number(value)):,}"


def _fmt_number(value: Any) -> str:
    v = _number(value)
    if v.is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    magnitude = abs(v)
    if magnitude >= 1000:
        return f"{v:,.0f}"
    if magnitude >= 1:
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    return f"{v:.4g}" if magnitude >= 1e-4 else f"{v:.2e}"


def _fmt_exact(value: Any) -> str:
    """Whole numbers with thousands separators; anything else as given (a figure quoted to its last digit)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{int(value):,}"
    return str(value)


def _fmt_ms(value: Any) -> str:
    v = _number(value)
    magnitude = abs(v)
    if magnitude >= 1000:
        return f"{v:,.0f}"
    if magnitude >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _fmt_seconds(value: Any) -> str:
    v = _number(value)
    return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.2f}"


def _fmt_usd(value: Any) -> str:
    """Dollars to the cent; below a dollar, 4 significant digits (at least to the cent)."""
    v = _number(value)
    sign = "-" if v < 0 else ""
    magnitude = abs(v)
    if magnitude == 0:
        return "$0.00"
    if magnitude >= 1:
        return f"{sign}${magnitude:,.2f}"
    decimals = max(2, 3 - math.floor(math.log10(magnitude)))
    text = f"{magnitude:.{decimals}f}"
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{sign}${whole}.{frac}"


def _fmt_ratio(value: Any) -> str:
    return f"{_number(value) * 100:.1f}%"


def _fmt_percent(value: Any) -> str:
    return f"{_number(value):.1f}%"


def _fmt_time(value: Any) -> str:
    if isinstance(value, str):
        return value
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp: nanoseconds are below what is shown
        value = value.to_pydatetime(warn=False)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S") if value.microsecond == 0 else \
            value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _fmt_date(value: Any) -> str:
    """A day (a date, or a time at midnight UTC, as day buckets are) as ``YYYY-MM-DD``."""
    text = _fmt_time(value)
    return text[:10] if not isinstance(value, str) else text


def _fmt_bool(value: Any) -> str:
    return "yes" if bool(value) else "no"


@dataclass(frozen=True)
class ColumnKind:
    """How one kind of column is shown: a formatter and whether it reads as a number (right-aligned)."""

    name: str
    format: Callable[[Any], str]
    numeric: bool


COLUMN_KINDS: dict[str, ColumnKind] = {k.name: k for k in (
    ColumnKind("text", _fmt_text, False),
    ColumnKind("url", _fmt_text, False),
    ColumnKind("bool", _fmt_bool, False),
    ColumnKind("count", _fmt_count, True),
    ColumnKind("number", _fmt_number, True),
    ColumnKind("exact", _fmt_exact, True),
    ColumnKind("ms", _fmt_ms, True),
    ColumnKind("seconds", _fmt_seconds, True),
    ColumnKind("usd", _fmt_usd, True),
    ColumnKind("ratio", _fmt_ratio, True),
    ColumnKind("percent", _fmt_percent, True),
    ColumnKind("time", _fmt_time, False),
    ColumnKind("date", _fmt_date, False),
)}

_COUNTED = re.compile(r"^(spans?|traces?|requests?|calls?|rows?|models?|errors?)[ _]"
                      r"(with|without|missing|lacking|no)(?![a-z])")

# Name patterns that tell a float column's kind (checked in order on the lower-cased column name).
_NAME_KINDS: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda n: n.endswith("_url"), "url"),
    (lambda n: n.endswith("_ms") or n == "ms", "ms"),
    (lambda n: n.endswith("_s") or n.endswith("_seconds"), "seconds"),
    # "spans without cost", "traces_with_errors": a count of things, whatever else the name mentions
    (lambda n: bool(_COUNTED.match(n)), "count"),
    (lambda n: "usd" in n or "cost" in n or "price" in n, "usd"),
    (lambda n: n.endswith("_pct") or "percent" in n, "percent"),
    (lambda n: n.endswith("_rate") or n.endswith("_ratio") or n.endswith("_share"), "ratio"),
)


def _time_kind(present: Any) -> str:
    """``date`` when every value is a day (a date, or midnight UTC: day buckets), else ``time``."""
    def is_day(value: Any) -> bool:
        if not isinstance(value, dt.datetime):
            return isinstance(value, dt.date)
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc)
        return value.time() == dt.time(0) and getattr(value, "nanosecond", 0) == 0

    return "date" if len(present) and all(is_day(v) for v in present) else "time"


def column_kind(name: str, values: Any) -> str:
    """The kind of a column from its name and dtype (``values`` is a pandas Series or a sequence)."""
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    lowered = str(name).lower()
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _time_kind(series.dropna())
    if pd.api.types.is_object_dtype(dtype):
        present = series.dropna()
        if len(present) and all(isinstance(v, (dt.datetime, dt.date)) for v in present):
            return _time_kind(present)
        if len(present) and all(isinstance(v, numbers.Number) and not isinstance(v, bool) for v in present):
            series = pd.to_numeric(present)
            dtype = series.dtype
        else:
            return "url" if lowered.endswith("_url") else "text"
    if not pd.api.types.is_numeric_dtype(dtype):
        return "url" if lowered.endswith("_url") else "text"
    for matches, kind in _NAME_KINDS:
        if matches(lowered):
            return kind
    if pd.api.types.is_integer_dtype(dtype):
        return "count"
    present = series.dropna()
    if len(present) and (present == present.round()).all():
        return "count"
    return "number"


def format_value(value: Any, kind: str) -> str:
    """One value as shown in a table of ``kind``; missing values (None, NaN, NaT) are blank."""
    if _is_missing(value):
        return ""
    spec = COLUMN_KINDS[kind]
    try:
        return spec.format(value)
    except (TypeError, ValueError, OverflowError):
        return str(value)


# ------------------------------------------------------------------------------------------------
# Output plumbing
# ------------------------------------------------------------------------------------------------


def _emit(bundle: Mapping[str, Any]) -> None:
    from IPython.display import display

    display(dict(bundle), raw=True)


def _heading(title: str | None) -> str:
    return f'<h4 style="margin:12px 0 4px 0">{html.escape(title)}</h4>' if title else ""


# ------------------------------------------------------------------------------------------------
# Checks and verdicts
# ------------------------------------------------------------------------------------------------


def sort_failures_first(checks: Iterable[Check]) -> list[Check]:
    """Errors, failures and warnings first, then passes and skips. Problems (errors, failures, warnings)
    are ordered critical, major, minor within their status; otherwise the order is kept."""
    def key(c: Check) -> tuple[int, int]:
        problem = c.status in (Status.ERROR, Status.FAIL, Status.WARN)
        return _STATUS_ORDER[c.status], _SEVERITY_ORDER[c.severity] if problem else 0

    return sorted(checks, key=key)


def _check_cell_text(text: str) -> str:
    if "\n" in text.strip():
        return f'<pre style="white-space:pre-wrap;margin:0;font-family:monospace">{html.escape(text.strip())}</pre>'
    return html.escape(text)


def checks_html(checks: Sequence[Check]) -> str:
    """An HTML table of checks, failures first, with the status colour inline on every row."""
    rows = []
    for c in sort_failures_first(checks):
        colour = STATUS_COLOURS[c.status]
        weight = "font-weight:bold;" if not c.ok else ""
        rows.append(
            f'<tr class="check-{c.status.value}" style="border-left:4px solid {colour}">'
            f'<td style="{_TEXT_CELL};color:{colour};{weight}white-space:nowrap" title="{c.status.value}">'
            f"{c.status.symbol} {c.status.value}</td>"
            f'<td style="{_TEXT_CELL}">{html.escape(c.severity.value)}</td>'
            f'<td style="{_TEXT_CELL}"><b>{html.escape(c.title)}</b><br>'
            f'<code style="{_ID_CODE}">{html.escape(c.id)}</code></td>'
            f'<td style="{_TEXT_CELL}">{_check_cell_text(c.summary)}</td>'
            f'<td style="{_TEXT_CELL}">{_check_cell_text(c.remedy)}</td></tr>'
        )
    head = "".join(f'<th style="{_HEAD_CELL};text-align:left">{h}</th>'
                   for h in ("status", "severity", "check", "summary", "remedy"))
    return (f'<div style="{_SCROLL}"><table class="runbook-checks" style="{_TABLE}"><thead><tr>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></div>')


def checks_text(checks: Sequence[Check]) -> str:
    """Plain-text checks, failures first, each failure followed by its fix."""
    ordered = sort_failures_first(checks)
    lines = [f"{c.status.symbol} {c.status.value:5} {c.id}: {c.summary}" for c in ordered]
    lines += [f"    fix ({c.id}): {c.remedy}" for c in ordered if c.remedy and not c.ok]
    return "\n".join(lines)


def show_checks(checks: Sequence[Check] | Check, title: str | None = None, *, record: bool = True) -> None:
    """Show checks as a table and, unless ``record=False``, record them for the runner (the custom
    mime bundle it reads back from the executed notebook), so each check counts once."""
    items = [checks] if isinstance(checks, Check) else list(checks)
    bundle: dict[str, Any] = {
        "text/plain": redact((f"{title}\n" if title else "") + checks_text(items)),
        "text/html": redact(_heading(title) + checks_html(items)),
    }
    if record:
        bundle[CHECKS_MIME] = [c.to_dict() for c in items]
    _emit(bundle)


def _tally(checks: Sequence[Check]) -> dict[str, list[Check]]:
    groups: dict[str, list[Check]] = {"failed": [], "warnings": [], "passed": [], "skipped": []}
    for c in checks:
        key = {Status.FAIL: "failed", Status.ERROR: "failed", Status.WARN: "warnings",
               Status.PASS: "passed", Status.SKIP: "skipped"}[c.status]
        groups[key].append(c)
    return groups


def verdict_line(checks: Sequence[Check], name: str | None = None) -> str:
    """One line: the verdict, counts per outcome and the failing check ids."""
    groups = _tally(checks)
    verdict = verdict_of(checks)
    counts = ", ".join(f"{len(v)} {k}" for k, v in groups.items() if v) or "no checks"
    failing = sorted({c.id for c in groups["failed"]})
    warned = sorted({c.id for c in groups["warnings"]})
    prefix = f"{name}: " if name else ""
    return (f"{prefix}verdict {verdict.upper()}: {counts}"
            + (f"; failing: {', '.join(failing)}" if failing else "")
            + (f"; warnings: {', '.join(warned)}" if warned else ""))


def verdict_html(checks: Sequence[Check], name: str | None = None) -> str:
    """The verdict line as HTML: a coloured badge, counts, and the failing ids as code."""
    verdict = verdict_of(checks)
    groups = _tally(checks)
    colour = _VERDICT_COLOURS[verdict]
    counts = ", ".join(f"{len(v)} {k}" for k, v in groups.items() if v) or "no checks"
    failing = sorted({c.id for c in groups["failed"]})
    ids = (f"; failing: {', '.join(f'<code>{html.escape(i)}</code>' for i in failing)}" if failing else "")
    warned = sorted({c.id for c in groups["warnings"]})
    ids += (f"; warnings: {', '.join(f'<code>{html.escape(i)}</code>' for i in warned)}" if warned else "")
    who = f"<b>{html.escape(name)}</b> " if name else ""
    return (f'<p class="runbook-verdict" style="font-size:1.1em;margin:10px 0">{who}'
            f'<span style="background:{colour};color:#fff;font-weight:bold;padding:2px 10px;border-radius:4px">'
            f"{verdict}</span> {html.escape(counts)}{ids}</p>")


def show_verdict(checks: Sequence[Check], name: str | None = None) -> None:
    """Show the one-line verdict of ``checks`` (never records them: they were recorded when shown)."""
    items = list(checks)
    _emit({"text/plain": redact(verdict_line(items, name)), "text/html": redact(verdict_html(items, name))})


# ------------------------------------------------------------------------------------------------
# Text and code
# ------------------------------------------------------------------------------------------------


def show_markdown(text: str) -> None:
    """A short note in Markdown (JupyterLab and nbconvert render it), plain text for logs."""
    body = redact(text)
    _emit({"text/markdown": body, "text/plain": body})


def code_html(text: str, language: str = "", *, title: str | None = None) -> str:
    """A monospace block as HTML (wrapped at word boundaries, never cut)."""
    lang = f' class="language-{html.escape(language)}"' if language else ""
    return (f'{_heading(title)}<pre style="{_PRE}"><code{lang} style="white-space:pre-wrap;word-break:normal;'
            f'background:none;padding:0">{html.escape(text)}</code></pre>')


def show_code(text: str, language: str = "", *, title: str | None = None) -> None:
    """A monospace block (a YAML snippet, SQL, a diff), shown whole."""
    body = redact(text.rstrip("\n"))
    _emit({"text/plain": (f"{title}\n" if title else "") + body, "text/html": code_html(body, language, title=title)})


# ------------------------------------------------------------------------------------------------
# Data tables
# ------------------------------------------------------------------------------------------------


def _as_frame(frame: Any) -> Any:
    import pandas as pd

    data = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
    if not isinstance(data.index, pd.RangeIndex) or data.index.name is not None:
        data = data.reset_index()
    return data


def _kinds(data: Any, formats: Mapping[str, str] | None) -> dict[str, str]:
    kinds = {}
    given = dict(formats or {})
    unknown = [k for k in given.values() if k not in COLUMN_KINDS]
    if unknown:
        raise ValueError(f"unknown column kind(s) {unknown}; choose from {', '.join(COLUMN_KINDS)}")
    absent = sorted(set(given) - {str(c) for c in data.columns})
    if absent:
        raise ValueError(f"formats name columns the table does not have: {absent}")
    for col in data.columns:
        kind = given.get(str(col)) or column_kind(str(col), data[col])
        if kind == "time" and _time_kind(data[col].dropna()) == "date":
            kind = "date"  # a time column of day buckets (every value midnight UTC) shows the day
        kinds[col] = kind
    return kinds


def _cell_html(value: Any, kind: str) -> str:
    text = format_value(value, kind)
    style = _NUM_CELL if COLUMN_KINDS[kind].numeric else _TIME_CELL if kind in ("time", "date") else _TEXT_CELL
    if kind == "url" and text.startswith(("http://", "https://")):
        return f'<td style="{style}"><a href="{html.escape(text)}" target="_blank">{html.escape(text)}</a></td>'
    return f'<td style="{style}">{html.escape(text)}</td>'


def table_html(frame: Any, *, formats: Mapping[str, str] | None = None, max_rows: int | None = None) -> str:
    """A data table as HTML in a horizontally scrolling container (values formatted by column kind)."""
    data = _as_frame(frame)
    kinds = _kinds(data, formats)
    shown = data if max_rows is None else data.head(max_rows)
    head = "".join(
        f'<th style="{_HEAD_CELL};text-align:{"right" if COLUMN_KINDS[kinds[c]].numeric else "left"}">'
        f"{html.escape(str(c))}</th>" for c in data.columns)
    rows = "".join(
        "<tr>" + "".join(_cell_html(v, kinds[c]) for c, v in zip(data.columns, rec, strict=True)) + "</tr>"
        for rec in shown.itertuples(index=False, name=None))
    more = (f'<p style="margin:2px 0"><i>{len(data) - len(shown):,} more rows not shown</i></p>'
            if len(shown) < len(data) else "")
    return (f'<div style="{_SCROLL}"><table class="runbook-table" style="{_TABLE}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>{more}")


def table_text(frame: Any, *, formats: Mapping[str, str] | None = None, max_rows: int | None = None) -> str:
    """A data table as aligned plain text: text left, numbers right, nothing cut."""
    data = _as_frame(frame)
    kinds = _kinds(data, formats)
    shown = data if max_rows is None else data.head(max_rows)
    cols = [str(c) for c in data.columns]
    cells = [[format_value(v, kinds[c]) for c, v in zip(data.columns, rec, strict=True)]
             for rec in shown.itertuples(index=False, name=None)]
    widths = [max([len(cols[i])] + [len(row[i]) for row in cells]) for i in range(len(cols))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if COLUMN_KINDS[kinds[c]].numeric else v.ljust(w)
                 for v, w, c in zip(values, widths, data.columns, strict=True)]
        return "  ".join(parts).rstrip()

    out = [line(cols)] + [line(row) for row in cells]
    if len(shown) < len(data):
        out.append(f"… {len(data) - len(shown):,} more rows not shown")
    return "\n".join(out)


def show_table(frame: Any, *, title: str | None = None, formats: Mapping[str, str] | None = None,
               caption: str | None = None, notes: Sequence[str] = (), max_rows: int | None = None) -> None:
    """Show a data table (a DataFrame, or anything ``pandas.DataFrame`` accepts).

    ``formats`` maps column names to a kind of :data:`COLUMN_KINDS`; other columns get a kind from
    their name and dtype (:func:`column_kind`). A named or non-default index is shown as columns.
    ``caption`` is a sentence under the title, ``notes`` a bullet list under it.
    """
    note_html = ("<ul style=\"margin:2px 0\">" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
                 if notes else "")
    caption_html = f'<p style="margin:2px 0">{html.escape(caption)}</p>' if caption else ""
    plain_head = "\n".join([t for t in (title, caption) if t] + [f"- {n}" for n in notes])
    _emit({
        "text/plain": redact((plain_head + "\n" if plain_head else "") + table_text(frame, formats=formats,
                                                                                 max_rows=max_rows)),
        "text/html": redact(_heading(title) + caption_html + note_html
                            + table_html(frame, formats=formats, max_rows=max_rows)),
    })


# ------------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------------


def show_figure(fig: Any, *, title: str | None = None, alt: str = "figure") -> None:
    """Show a matplotlib figure as an embedded PNG (and close it, so it is not shown twice)."""
    import base64
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    if title:
        _emit({"text/plain": title, "text/html": _heading(title)})
    _emit({"image/png": data, "text/plain": f"<{alt}: {title or 'figure'}>"})


# ------------------------------------------------------------------------------------------------
# Errors an operator fixes by hand
# ------------------------------------------------------------------------------------------------


def brief_traceback(exc: E) -> E:
    """Make IPython show ``exc`` as its message only, without the library's traceback (IPython asks an
    exception for ``_render_traceback_``). The cell still fails; the operator reads what to change."""
    text = redact(f"{type(exc).__name__}: {exc}")
    exc._render_traceback_ = lambda: text.splitlines()  # type: ignore[attr-defined]
    return exc
