"""Machine-readable output and report history on real runs: --junit, --json, report list/show --failed/diff,
--version, help for every option, the params template."""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from runbook_lib import __version__
from runbook_lib.cli import build_parser, main
from runbook_lib.params import read_declarations
from runbook_lib.secrets import is_reference
from tests.plugins.traces import TRACE_END, TRACE_START

ROOT = Path(__file__).resolve().parents[1]
NAME = "30_trace_analytics"


def run_30(capsys, dump: Path, out: Path, start, *extra: str) -> tuple[int, str, str]:
    code = main(["run", NAME, "-p", "dump_path", str(dump), "-p", "start", start.isoformat(),
                 "-p", "end", TRACE_END.isoformat(), "-p", "prem_status", "free", "--out", str(out), "--no-html",
                 *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def two_runs(parquet_dump, tmp_path_factory):
    """Two real runs of 30 over the same dump, the second over a shorter window."""
    out = tmp_path_factory.mktemp("reports")
    junit = out.parent / "junit.xml"
    first = main(["run", NAME, "-p", "dump_path", str(parquet_dump), "-p", "start", TRACE_START.isoformat(),
                  "-p", "end", TRACE_END.isoformat(), "-p", "prem_status", "free", "--out", str(out), "--no-html",
                  "--junit", str(junit)])
    second = main(["run", NAME, "-p", "dump_path", str(parquet_dump), "-p", "start",
                   (TRACE_END - timedelta(days=1)).isoformat(), "-p", "end", TRACE_END.isoformat(),
                   "-p", "prem_status", "enterprise", "--out", str(out), "--no-html"])
    runs = sorted(p for p in out.iterdir() if (p / "run.json").is_file())
    return {"out": out, "codes": (first, second), "runs": runs, "junit": junit}


def test_junit_has_one_case_per_check_and_failures_with_summary_and_remedy(two_runs):
    root = ET.parse(two_runs["junit"]).getroot()  # parses: valid XML
    run = json.loads((two_runs["runs"][0] / "run.json").read_text())
    checks = run["notebooks"][0]["checks"]
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [c["id"] for c in checks]
    assert int(suite.get("tests")) == len(checks) and int(root.get("tests")) == len(checks)
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert len(skipped) == sum(c["status"] == "skip" for c in checks) == int(suite.get("skipped"))
    warned = {c["id"]: c for c in checks if c["status"] == "warn"}
    assert warned  # a free plan over week-old data warns
    for case in cases:
        if case.get("name") in warned:
            out = case.find("system-out").text
            assert warned[case.get("name")]["summary"] in out and "fix: " in out


def test_junit_failure_carries_summary_and_remedy(tmp_path):
    from runbook_lib.junit import junit_xml
    from runbook_lib.record import NotebookRecord, RunRecord

    record = RunRecord("r1", "2026-01-01T00:00:00Z", "0", "h", "3.11", {})
    record.notebooks.append(NotebookRecord("20_callback_verification", "x", {}, status="failed", checks=[
        {"id": "proxy.model", "title": "Model", "status": "fail", "severity": "major", "summary": "'x' not served",
         "remedy": "set model", "evidence": {}},
        {"id": "roundtrip.requests", "title": "Requests", "status": "skip", "severity": "minor",
         "summary": "skipped because proxy.model failed", "remedy": "", "evidence": {}}]))
    root = ET.fromstring(junit_xml(record).split("\n", 1)[1])
    failure = root.find("testsuite/testcase[@name='proxy.model']/failure")
    assert failure.get("message") == "'x' not served" and "fix: set model" in failure.text
    assert root.find("testsuite/testcase[@name='roundtrip.requests']/skipped") is not None
    assert root.get("failures") == "1" and root.get("skipped") == "1"


def test_json_prints_the_run_record_on_stdout(parquet_dump, tmp_path, capsys):
    code, out, err = run_30(capsys, parquet_dump, tmp_path / "r", TRACE_START, "--json")
    record = json.loads(out)  # stdout is exactly the record
    folder = next((tmp_path / "r").iterdir())
    assert record == json.loads((folder / "run.json").read_text())
    assert record["exit_code"] == code and "verdict:" in err


def test_report_list_show_failed_and_diff_on_two_real_runs(two_runs, capsys):
    first, second = two_runs["runs"]
    assert main(["report", "list", str(two_runs["out"])]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in listing[1:]] == [str(first), str(second)]
    assert all(" passed " in line for line in listing[1:])

    main(["report", "show", str(first), "--failed"])
    shown = capsys.readouterr().out
    assert "no failing check" in shown and "verdict: passed" in shown

    assert main(["report", "diff", str(first), str(second)]) == 0
    diff = capsys.readouterr().out
    a = {c["id"]: c for c in json.loads((first / "run.json").read_text())["notebooks"][0]["checks"]}
    b = {c["id"]: c for c in json.loads((second / "run.json").read_text())["notebooks"][0]["checks"]}
    changed = [i for i in a if a[i]["status"] != b.get(i, {}).get("status")]
    assert changed  # the enterprise plan lifts the free plan's truncation warning
    for check_id in changed:
        assert f"{NAME}/{check_id}: {a[check_id]['status']} -> {b[check_id]['status']}" in diff
    spans_a, spans_b = a["traces.window.empty"]["evidence"]["spans"], b["traces.window.empty"]["evidence"]["spans"]
    assert spans_a > spans_b
    line = next(x for x in diff.splitlines() if x.strip().startswith("traces.window.empty.spans"))
    assert line.split()[1:] == [f"{spans_a:,}", f"{spans_b:,}"]  # the figures side by side


def test_report_diff_sets_30s_headline_figures_side_by_side(two_runs, capsys):
    from runbook_lib.report_history import _figure

    first, second = two_runs["runs"]
    heads = []
    for run in (first, second):
        checks = {c["id"]: c for c in json.loads((run / "run.json").read_text())["notebooks"][0]["checks"]}
        head, window = checks["traces.headline"], checks["traces.window.empty"]
        assert head["status"] == "pass"
        assert (head["evidence"]["traces"], head["evidence"]["spans"]) == (window["evidence"]["traces"],
                                                                          window["evidence"]["spans"])
        assert head["evidence"]["llm_p50_ms"] <= head["evidence"]["llm_p95_ms"] and head["evidence"]["cost_usd"] > 0
        assert f"{head['evidence']['traces']:,} traces" in head["summary"] and "LLM p50 " in head["summary"]
        heads.append(head["evidence"])
    assert main(["report", "diff", str(first), str(second)]) == 0
    lines = {x.split()[0]: x.split()[1:] for x in capsys.readouterr().out.splitlines() if x.startswith("  traces.")}
    for key in ("traces", "spans", "llm_error_rate", "llm_p50_ms", "llm_p95_ms", "trace_p95_ms", "cost_usd"):
        assert lines[f"traces.headline.{key}"] == [_figure(heads[0][key]), _figure(heads[1][key])], key


def test_show_failed_lists_failing_checks_with_their_remedy(tmp_path, monkeypatch, capsys):
    from tests.nbfactory import write_notebook

    folder = tmp_path / "nb"
    folder.mkdir()
    monkeypatch.setenv("RUNBOOK_NOTEBOOK_DIR", str(folder))
    write_notebook(folder / "f.ipynb", "x: int = 0  # unused",
                   "from runbook_lib import Check, show_checks\n"
                   "show_checks([Check.passed('f.ok', 'Ok'), Check.failed('f.bad', 'Bad', 'broken', remedy='fix it')])")
    assert main(["run", "f", "--out", str(tmp_path / "r"), "--no-html"]) == 1
    capsys.readouterr()
    main(["report", "show", str(next((tmp_path / "r").iterdir())), "--failed"])
    shown = capsys.readouterr().out
    assert "f/f.bad: broken" in shown and "fix: fix it" in shown and "f.ok" not in shown.split("\n\n")[0]


def test_version_and_help_for_every_option(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and __version__ in capsys.readouterr().out

    def undocumented(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from undocumented(sub, [*path, name])
            elif not action.help:
                yield " ".join(path), action.dest

    assert list(undocumented(build_parser(), ["runbook"])) == []


def test_params_template_covers_every_parameter_with_secrets_as_references(capsys, monkeypatch):
    monkeypatch.delenv("RUNBOOK_NOTEBOOK_DIR", raising=False)
    assert main(["params", "--template", "all"]) == 0
    text = capsys.readouterr().out
    template = yaml.safe_load(text)
    assert list(template) == ["10_migration", "00_setup", "20_callback_verification", "30_trace_analytics"]
    for notebook, values in template.items():
        specs = read_declarations(ROOT / "notebooks" / f"{notebook}.ipynb")
        assert list(values) == list(specs)
        for name, spec in specs.items():
            if spec.is_secret:
                assert is_reference(values[name]), (notebook, name)
    example = ROOT / "examples" / "params.example.yaml"
    assert example.read_text(encoding="utf-8") == text  # the shipped example is the template
