"""The HTML report's header (run date, target hosts, runbook version, counts by status, failures first), read
back from a real run; and a notebook that records no check is never ``passed``."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

import runbook_lib
from runbook_lib.checks import Check, verdict_of
from runbook_lib.cli import main
from runbook_lib.display import verdict_line
from runbook_lib.params import ParamSpec
from runbook_lib.record import EXIT_CODES, notebook_status
from runbook_lib.runner import run_notebooks
from runbook_lib.targets import Target, target_hosts
from tests.nbfactory import write_notebook

DSN_PASSWORD = "Pw-Header-7731"
DSN = f"postgresql://runbook:{DSN_PASSWORD}@db.internal.example:6543/agentops?sslmode=require"

PARAMS = '''litellm_url: "Optional[Url]" = ""  # proxy
agentops_api_url: "Optional[Url]" = "https://api.agentops.example"  # API, default port
dashboard_url: "Optional[Url]" = ""  # not set: no target
database_url: "Optional[DsnSecret]" = "env:RB_HEADER_DSN"  # database
'''
MIXED = '''from runbook_lib import Check, show_checks
show_checks([Check.passed("h.ok", "Fine"), Check.skipped("h.skip", "Skipped", "not given"),
             Check.warned("h.warn", "Warns", "a warning"), Check.passed("h.ok2", "Fine too"),
             Check.failed("h.fail", "Fails", "broken", remedy="fix it", severity="minor"),
             Check.failed("h.down", "Fails badly", "down", remedy="restart it", severity="critical"),
             Check.errored("h.err", "Errors", "crashed")])'''


class _Header(HTMLParser):
    """The summary header: its facts rows (label -> text) and the status column of its checks table."""

    def __init__(self) -> None:
        super().__init__()
        self.facts: dict[str, str] = {}
        self.statuses: list[str] = []
        self.ids: list[str] = []
        self._in_summary = self._in_checks = False
        self._row: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = dict(attrs).get("class") or ""
        if tag == "div" and cls == "runbook-summary":
            self._in_summary = True
        if not self._in_summary:
            return
        if tag == "h3":
            self._in_checks = False
        if tag == "table" and cls == "runbook-checks":
            self._in_checks = True
        if tag == "tr":
            self._row, self._text = cls, []

    def handle_endtag(self, tag: str) -> None:
        if self._row is not None and tag in ("b", "code", "td"):
            self._text.append(" ")  # keeps a title, an id and the next cell apart
        if not self._in_summary or tag != "tr" or self._row is None:
            return
        text = " ".join("".join(self._text).split())
        if self._row.startswith("fact-"):
            label, _, value = text.partition(" | ")
            self.facts[label] = value
        elif self._in_checks and self._row.startswith("check-"):
            self.statuses.append(self._row.removeprefix("check-"))
            self.ids.append(re.findall(r"\bh\.\w+", text)[0])
        self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None:
            self._text.append(data)


def _header(path: Path) -> _Header:
    text = path.read_text(encoding="utf-8")
    summary = text[:text.index("<h3>Parameters</h3>")]  # the header ends with the parameters table
    parser = _Header()
    parser.feed(summary.replace("</th><td>", "</th><td> | "))  # marks each facts row's label/value boundary
    return parser


@pytest.fixture
def nb_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    monkeypatch.setenv("RUNBOOK_NOTEBOOK_DIR", str(folder))
    monkeypatch.setenv("RB_HEADER_DSN", DSN)
    write_notebook(folder / "mixed.ipynb", PARAMS, MIXED)
    write_notebook(folder / "silent.ipynb", "x: int = 0  # unused", "print('ran, checked nothing')")
    return folder


def test_header_shows_date_targets_version_counts_and_failures_first(nb_dir: Path, tmp_path: Path) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    record = run_notebooks(["mixed"], {"litellm_url": "http://127.0.0.1:4000/v1/chat?team=ops"}, out_dir=tmp_path / "r")
    html_path = record.run_dir / record.notebooks[0].html
    header = _header(html_path)

    assert set(header.facts) == {"run date", "target hosts", "runbook version", "run", "checks"}
    date = header.facts["run date"].split(" · ")[0]
    assert date.endswith(" UTC")
    shown = datetime.strptime(date, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=timezone.utc)
    assert before <= shown <= datetime.now(timezone.utc)
    assert header.facts["runbook version"] == f"agentops-runbooks {runbook_lib.__version__}"
    assert header.facts["run"] == record.run_id

    targets = header.facts["target hosts"]
    assert targets == ("http://127.0.0.1:4000 (litellm_url), https://api.agentops.example (agentops_api_url), "
                       "postgresql://db.internal.example:6543 (database_url)")
    page = html_path.read_text(encoding="utf-8")
    assert DSN_PASSWORD not in page and "runbook:" not in targets and "team=ops" not in targets

    assert header.facts["checks"] == "1 errored, 2 failed, 1 warned, 2 passed, 1 skipped"
    assert header.statuses == ["error", "fail", "fail", "warn", "pass", "pass", "skip"]
    # failures first, the critical one before the minor one; passes keep the notebook's order
    assert header.ids == ["h.err", "h.down", "h.fail", "h.warn", "h.ok", "h.ok2", "h.skip"]
    assert record.verdict == "failed"


def test_target_hosts_keep_only_scheme_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RB_TARGET_DSN", "host=/var/run/postgresql,10.0.0.5 port=5432,5433 user=u password=p")
    specs = {
        "a": ParamSpec("a", "Url", None, "", True),
        "b": ParamSpec("b", "Url", None, "", True),
        "c": ParamSpec("c", "DsnSecret", None, "", False),
        "d": ParamSpec("d", "str", "http://not-a-url-param:1", "", False),
        "e": ParamSpec("e", "Secret", "env:RB_TARGET_DSN", "", False),
    }
    found = target_hosts(specs, {"a": "https://[::1]:8443/x?y=1#frag", "b": None, "c": "env:RB_TARGET_DSN"})
    assert found == [Target("a", "https://[::1]:8443"), Target("c", "unix socket /var/run/postgresql"),
                     Target("c", "postgresql://10.0.0.5:5433")]
    assert target_hosts(specs, {"c": "env:RB_TARGET_DSN_UNSET"}) == []


# -- zero checks is not passed --------------------------------------------------------------------------


def test_no_checks_reads_skipped_everywhere() -> None:
    assert verdict_of([]) == "skipped" and notebook_status([]) == "skipped"
    assert "verdict SKIPPED: no checks" in verdict_line([], "x")
    assert verdict_of([Check.skipped("a", "A", "r"), Check.passed("b", "B")]) == "passed"
    assert notebook_status([{"status": "skip"}, {"status": "warn"}]) == "passed"


def test_a_notebook_that_records_no_check_makes_the_run_incomplete(nb_dir: Path, tmp_path: Path, capsys) -> None:
    code = main(["run", "silent", "--out", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert code == EXIT_CODES["incomplete"] == 6
    run_dir = next((tmp_path / "r").iterdir())
    run = json.loads((run_dir / "run.json").read_text())
    assert run["verdict"] == "incomplete" and run["notebooks"][0]["status"] == "skipped"
    assert "no check was recorded" in out and "verdict: incomplete (exit code 6)" in out
    header = _header(run_dir / "silent.html")
    assert header.facts["checks"] == "no checks" and header.statuses == []
    assert 'verdict-skipped">skipped<' in (run_dir / "silent.html").read_text()
