"""The display layer: number formats by column kind, whole text, inline status colours, the verdict line,
read back from the HTML report the runner writes; and only runbook_lib/display.py imports IPython."""

from __future__ import annotations

import ast
import shutil
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from runbook_lib.checks import Check
from runbook_lib.display import COLUMN_KINDS, checks_text, column_kind, format_value, table_text, verdict_line
from runbook_lib.runner import run_notebooks
from tests.nbfactory import write_notebook

ROOT = Path(__file__).resolve().parents[1]
LONG_REMEDY = ("move the callback from general_settings to litellm_settings.callbacks, restart the proxy and "
               "rebuild its image so the change is really loaded")


# -- formats ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "value", "shown"), [
    ("count", 2006.0, "2,006"),
    ("count", 7, "7"),
    ("ms", 0.0, "0.00"),
    ("ms", 3.14159, "3.14"),
    ("ms", 123.456, "123.5"),
    ("ms", 12345.6, "12,346"),
    ("usd", 12.5, "$12.50"),
    ("usd", 1234.567, "$1,234.57"),
    ("usd", 0.5, "$0.50"),
    ("usd", 0.000123456, "$0.0001235"),
    ("usd", 0.0, "$0.00"),
    ("ratio", 0.1234, "12.3%"),
    ("percent", 99.95, "100.0%"),
    ("time", pd.Timestamp("2026-12-04 15:00:00", tz="UTC"), "2026-12-04 15:00:00"),
    ("time", pd.Timestamp("2026-12-04 15:00:00.123456789", tz="UTC"), "2026-12-04 15:00:00.123"),  # no warning
    ("text", "x" * 120, "x" * 120),
    ("exact", 2007, "2,007"),
    ("exact", "15.22561", "15.22561"),  # a cost as the API prints it: every digit kept
    ("exact", Decimal("1.3584269"), "1.3584269"),
])
@pytest.mark.filterwarnings("error")  # a warning would be printed into the report body
def test_values_are_formatted_by_kind(kind, value, shown) -> None:
    assert format_value(value, kind) == shown


@pytest.mark.parametrize("missing", [None, float("nan"), pd.NaT, pd.NA])
@pytest.mark.parametrize("kind", sorted(COLUMN_KINDS))
def test_missing_values_are_blank(kind, missing) -> None:
    assert format_value(missing, kind) == ""


def test_kinds_are_inferred_from_name_and_dtype() -> None:
    frame = pd.DataFrame({"model": ["a", None], "traces": [2006.0, float("nan")], "spans": [3, 4],
                          "p95_ms": [1.5, 2.5], "cost_usd": [0.1, 0.2], "error_rate": [0.1, 0.2],
                          "day": pd.to_datetime(["2026-12-01", "2026-12-02"]), "ok": [True, False],
                          "mean": [1.25, 2.5], "trace_url": ["http://127.0.0.1:3000/t/1", None]})
    assert {c: column_kind(c, frame[c]) for c in frame} == {
        "model": "text", "traces": "count", "spans": "count", "p95_ms": "ms", "cost_usd": "usd",
        "error_rate": "ratio", "day": "date", "ok": "bool", "mean": "number", "trace_url": "url"}


def test_plain_text_table_keeps_text_whole_and_aligns_numbers_right() -> None:
    text = table_text(pd.DataFrame({"remedy": [LONG_REMEDY, "short"], "traces": [2006.0, 5.0]}))
    lines = text.splitlines()
    assert LONG_REMEDY in lines[1] and lines[1].endswith("2,006") and lines[2].endswith("    5")
    assert lines[2].startswith("short ")


def test_checks_text_and_verdict_put_failures_first() -> None:
    checks = [Check.passed("a.ok", "A"), Check.failed("b.bad", "B", "broken", "fix b"),
              Check.warned("c.meh", "C", "hmm"), Check.errored("d.err", "D", "raised")]
    assert [line.split()[2] for line in checks_text(checks).splitlines()[:4]] == ["d.err:", "b.bad:", "c.meh:",
                                                                                 "a.ok:"]
    assert verdict_line(checks, "nb") == ("nb: verdict FAILED: 2 failed, 1 warnings, 1 passed; failing: b.bad, d.err; "
                                          "warnings: c.meh")
    assert verdict_line([Check.passed("a", "A")]).startswith("verdict PASSED: 1 passed")


# -- the HTML report ----------------------------------------------------------------------------------


class _Cells(HTMLParser):
    """Collect every table cell (text and style), every <pre> text and every verdict paragraph."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, str, str]] = []  # (table class, style, text)
        self.pres: list[str] = []
        self.verdicts: list[str] = []
        self._tables: list[str] = []
        self._cell: list | None = None
        self._pre: list[str] | None = None
        self._verdict: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._tables.append(a.get("class") or "")
        elif tag in ("td", "th") and self._tables:
            self._cell = [self._tables[-1], a.get("style") or "", ""]
        elif tag == "pre":
            self._pre = []
        elif tag == "p" and "runbook-verdict" in (a.get("class") or ""):
            self._verdict = []

    def handle_endtag(self, tag):
        if tag == "table" and self._tables:
            self._tables.pop()
        elif tag in ("td", "th") and self._cell is not None:
            self.cells.append(tuple(self._cell))
            self._cell = None
        elif tag == "pre" and self._pre is not None:
            self.pres.append("".join(self._pre))
            self._pre = None
        elif tag == "p" and self._verdict is not None:
            self.verdicts.append(" ".join("".join(self._verdict).split()))
            self._verdict = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data
        if self._pre is not None:
            self._pre.append(data)
        if self._verdict is not None:
            self._verdict.append(data)


TABLE_CELL = '''import pandas as pd
from runbook_lib.checks import Check
from runbook_lib.display import show_checks, show_table, show_verdict

frame = pd.DataFrame({"model": ["gpt-4o-mini", "claude"], "remedy": [remedy, "none"],
                      "traces": [2006.0, float("nan")], "p50_ms": [0.0, 1234.5678],
                      "cost_usd": [0.000123456, 12.5]})
show_table(frame, title="By model")
checks = [Check.passed("demo.ok", "Fine"), Check.failed("demo.drift", "Drift", "column missing", remedy)]
show_checks(checks, "Demo")
show_verdict(checks, "demo")'''


def _parse(path: Path) -> _Cells:
    parser = _Cells()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_report_html_shows_whole_text_formatted_numbers_inline_colours_and_the_verdict(tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    monkeypatch.setenv("RUNBOOK_NOTEBOOK_DIR", str(folder))
    write_notebook(folder / "demo.ipynb", f"remedy: str = {LONG_REMEDY!r}  # a long remedy", TABLE_CELL)
    record = run_notebooks(["demo"], out_dir=tmp_path / "r")
    page = _parse(record.run_dir / record.notebooks[0].html)

    data = [(style, text) for cls, style, text in page.cells if cls == "runbook-table"]
    texts = [text for _, text in data]
    assert LONG_REMEDY in texts and "…" not in "".join(texts)  # text is never cut
    assert {"2,006", "0.00", "1,235", "$0.0001235", "$12.50"} <= set(texts)
    assert "nan" not in (t.lower() for t in texts) and "" in texts  # missing: blank
    style_of = dict((text, style) for style, text in data)
    assert "text-align:left" in style_of[LONG_REMEDY] and "text-align:right" in style_of["2,006"]

    checks = [(style, text) for cls, style, text in page.cells if cls == "runbook-checks"]
    status = [(style, text) for style, text in checks if text.strip() in ("✘ fail", "✔ pass")]
    # failures first, colour inline (JupyterLab drops stylesheets), in the notebook body and the header
    assert status[0][1].strip() == "✘ fail" and "color:#c62828" in status[0][0]
    assert any("color:#2e7d32" in style for style, text in status if "pass" in text)
    assert any(text.strip() == LONG_REMEDY for _, text in checks)
    assert page.verdicts == ["demo failed 1 failed, 1 passed; failing: demo.drift"]


def test_setup_report_ends_with_the_verdict_and_shows_the_wiring_in_a_monospace_block(tmp_path):
    config = tmp_path / "config.yaml"
    shutil.copy(ROOT / "examples" / "litellm_config.field_guide.yaml", config)
    record = run_notebooks(["00_setup"], {"litellm_config_path": str(config)}, out_dir=tmp_path / "r")
    html_path = record.run_dir / record.notebooks[0].html
    page = _parse(html_path)
    assert len(page.verdicts) == 1 and page.verdicts[0].startswith("00_setup failed")
    assert "config.callbacks.placement" in page.verdicts[0]
    assert any("agentops_selfhosted.handler" in pre for pre in page.pres)
    body = html_path.read_text(encoding="utf-8")
    assert body.rstrip().endswith("</html>") and body.rfind("runbook-verdict") > body.rfind("runbook-checks")


# -- one display module ---------------------------------------------------------------------------------


def test_only_the_display_module_imports_ipython() -> None:
    importers = []
    for path in sorted((ROOT / "runbook_lib").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "IPython" or n.startswith("IPython.") for n in names):
                importers.append(path.relative_to(ROOT).as_posix())
    assert sorted(set(importers)) == ["runbook_lib/display.py"]


def test_formats_must_name_known_kinds_and_existing_columns() -> None:
    frame = pd.DataFrame({"latency": [1.0]})
    assert table_text(frame, formats={"latency": "ms"}).splitlines()[1].strip() == "1.00"
    with pytest.raises(ValueError, match="unknown column kind"):
        table_text(frame, formats={"latency": "milliseconds"})
    with pytest.raises(ValueError, match="does not have"):
        table_text(frame, formats={"latncy": "ms"})


# CSS properties JupyterLab's sanitizer keeps in untrusted outputs (packages/apputils/src/sanitizer.ts,
# the ones this package may use), and the keyword values it accepts for the enumerated ones.
JUPYTERLAB_KEEPS = {
    "background", "background-color", "border", "border-collapse", "border-left", "border-radius", "color",
    "font-family", "font-size", "font-weight", "margin", "max-width", "overflow-x", "overflow-wrap", "padding",
    "text-align", "vertical-align", "white-space", "word-break",
}
JUPYTERLAB_KEYWORDS = {
    "white-space": {"normal", "pre", "nowrap", "pre-wrap", "pre-line"},
    "word-break": {"normal", "keep-all", "break-all"},
    "overflow-wrap": {"normal", "break-word"},
    "overflow-x": {"visible", "hidden", "scroll", "auto"},
    "text-align": {"left", "right", "center", "justify"},
    "font-weight": {"normal", "bold", "bolder", "lighter", *(str(w) for w in range(100, 1000, 100))},
    "border-collapse": {"collapse", "separate"},
}


def test_every_inline_style_survives_jupyterlabs_sanitizer() -> None:
    import re

    from runbook_lib.display import checks_html, code_html, table_html, verdict_html

    checks = [Check.passed("a", "A"), Check.failed("b", "B", "multi\nline", "fix"), Check.warned("c", "C", "w"),
              Check.errored("d", "D", "e"), Check.skipped("e", "E", "s")]
    frame = pd.DataFrame({"t": ["a", "b"], "n": [1.5, 2.0], "v_url": ["http://127.0.0.1/x", None]})
    pages = [checks_html(checks), verdict_html(checks, "nb"), verdict_html([checks[0]]),
             code_html("x = 1", "python", title="Code"), table_html(frame, max_rows=1)]
    styles = [m for page in pages for m in re.findall(r'style="([^"]*)"', page)]
    assert len(styles) > 20
    for style in styles:
        for declaration in filter(None, (d.strip() for d in style.split(";"))):
            prop, _, value = (x.strip() for x in declaration.partition(":"))
            assert prop in JUPYTERLAB_KEEPS, declaration
            if prop in JUPYTERLAB_KEYWORDS:
                assert value in JUPYTERLAB_KEYWORDS[prop], declaration


def test_the_check_id_under_its_title_has_no_chip_that_covers_the_titles_underscores() -> None:
    import re

    from runbook_lib.display import checks_html

    page = checks_html([Check.failed("drift.org_invites.inviter_id", "inviter_id [20250620000000 (fix_org_invites)]",
                                     "s", "r")])
    (style,) = re.findall(r'<br><code style="([^"]*)">drift\.org_invites\.inviter_id</code>', page)
    declarations = dict(d.split(":", 1) for d in style.split(";") if d)
    assert declarations["background"] == "none" and declarations["padding"] == "0"
