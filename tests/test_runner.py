"""The headless runner: validation before kernels, exit codes 0-4, reports, leaks, verification."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runbook_lib import ParameterError, load_run, run_notebooks, verify_run
from runbook_lib.cli import main
from tests.nbfactory import write_notebook

SECRET = "s3cr3t-Value-4242"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJwcm9qZWN0X2lkIjoicCJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"

PARAMS = '''name: str = "demo"  # a label
count: int = 1  # how many
ratio: float = 0.5  # a number
enabled: bool = False  # a switch
url: "Optional[Url]" = ""  # optional URL
api_key: "Optional[Secret]" = None  # optional secret reference
'''
CHECKS = '''from runbook_lib import Check, show_checks
show_checks([Check.passed("demo.ok", "Demo passes", f"name={name} count={count}"),
                Check.warned("demo.warn", "Demo warns", "just a warning", remedy="nothing to do")])'''


@pytest.fixture
def nb_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    monkeypatch.setenv("RUNBOOK_NOTEBOOK_DIR", str(folder))
    monkeypatch.setenv("RB_TEST_KEY", SECRET)
    write_notebook(folder / "a_pass.ipynb", PARAMS, "md:## Step one", CHECKS, "md:## Step two", "print('done')",
                   description="always passes")
    write_notebook(folder / "b_fail.ipynb", 'reason: str = "broken"  # why',
                   'from runbook_lib import Check, show_checks\n'
                   'show_checks(Check.failed("demo.fail", "Demo fails", reason, remedy="fix it"))')
    write_notebook(folder / "c_raise.ipynb", 'api_key: "Secret" = "env:RB_TEST_KEY"  # reference',
                   "from runbook_lib import resolve_secret\n"
                   "raise RuntimeError('could not log in with ' + resolve_secret(api_key))",
                   "print('never reached')")
    write_notebook(folder / "d_token.ipynb", 'x: int = 0  # unused', f"print('token: {JWT}')")
    write_notebook(folder / "e_dies.ipynb", 'x: int = 0  # unused', "import os\nos._exit(3)")
    return folder


def _all_text(run_dir: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in run_dir.iterdir() if p.is_file())


def test_passing_run_writes_a_complete_report(nb_dir: Path, tmp_path: Path) -> None:
    record = run_notebooks(["a_pass"], {"count": "3", "api_key": "env:RB_TEST_KEY"}, out_dir=tmp_path / "r")
    assert (record.verdict, record.exit_code) == ("passed", 0)
    run_dir = record.run_dir
    assert run_dir is not None and run_dir.parent == tmp_path / "r"
    data = json.loads((run_dir / "run.json").read_text())
    for key in ("run_id", "started_at", "finished_at", "runbook_version", "host", "python", "packages",
                "verdict", "exit_code", "notebooks"):
        assert key in data
    assert "papermill" in data["packages"]
    nb = data["notebooks"][0]
    assert nb["name"] == "a_pass" and nb["status"] == "passed"
    assert nb["parameters"]["count"] == 3 and nb["parameters"]["api_key"] == "env:RB_TEST_KEY"
    assert [c["id"] for c in nb["checks"]] == ["demo.ok", "demo.warn"]
    assert nb["checks"][0]["summary"] == "name=demo count=3"
    assert set(nb["checks"][0]) == {"id", "title", "status", "severity", "summary", "evidence", "remedy"}
    html = (run_dir / nb["html"]).read_text()
    assert "verdict-passed" in html and "Demo warns" in html and "env:RB_TEST_KEY" in html
    assert "show_checks" not in html  # code hidden by default
    assert "cdnjs" not in html and 'src="http' not in html
    assert verify_run(run_dir) == []


def test_show_code_keeps_code_and_no_html_skips_it(nb_dir: Path, tmp_path: Path) -> None:
    shown = run_notebooks(["a_pass"], out_dir=tmp_path, show_code=True)
    assert "show_checks" in (shown.run_dir / "a_pass.html").read_text()
    bare = run_notebooks(["a_pass"], out_dir=tmp_path, html=False)
    assert not (bare.run_dir / "a_pass.html").exists() and bare.notebooks[0].html is None


def test_failed_check_gives_exit_1(nb_dir: Path, tmp_path: Path) -> None:
    record = run_notebooks(["b_fail"], out_dir=tmp_path)
    assert (record.verdict, record.exit_code) == ("failed", 1)
    assert record.notebooks[0].checks[0]["remedy"] == "fix it"


def test_partial_failure_keeps_outputs_and_runs_the_rest(nb_dir: Path, tmp_path: Path) -> None:
    record = run_notebooks(["e_dies", "b_fail", "a_pass"], out_dir=tmp_path)
    assert [nb.status for nb in record.notebooks] == ["error", "failed", "passed"]
    assert (record.verdict, record.exit_code) == ("error", 2)
    for nb in record.notebooks:
        assert (record.run_dir / nb.output).is_file() and (record.run_dir / nb.html).is_file()
    assert "Dead" in record.notebooks[0].error or "died" in record.notebooks[0].error.lower()


def test_exception_keeps_papermill_banner_and_never_leaks_the_secret(nb_dir: Path, tmp_path: Path) -> None:
    record = run_notebooks(["c_raise"], out_dir=tmp_path)
    assert (record.verdict, record.exit_code) == ("leaked", 4)
    text = _all_text(record.run_dir)
    assert SECRET not in text
    assert "[REDACTED]" in text and "could not log in with" in text
    executed = (record.run_dir / "c_raise.ipynb").read_text()
    assert "An Exception was encountered" in executed  # papermill's error banner is kept
    assert any(leak["kind"] == "secret-value" for leak in record.leaks)
    assert record.notebooks[0].status == "error" and SECRET not in (record.notebooks[0].error or "")
    assert verify_run(record.run_dir) == []


def test_token_shapes_are_redacted_even_when_unknown(nb_dir: Path, tmp_path: Path) -> None:
    record = run_notebooks(["d_token"], out_dir=tmp_path)
    assert record.exit_code == 4 and JWT not in _all_text(record.run_dir)
    assert {leak["kind"] for leak in record.leaks} == {"jwt"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"nope": 1}, "unknown parameter(s) nope"),
        ({"count": "many"}, "count (int): expected an integer"),
        ({"enabled": "maybe"}, "expected true or false"),
        ({"url": "localhost:4000"}, "expected an http(s)://host[:port] URL"),
        ({"url": "http://exa mple"}, "malformed URL"),
        ({"api_key": SECRET}, "takes a reference, not a value"),
        ({"api_key": "env:RB_UNSET_VARIABLE"}, "does not resolve"),
    ],
)
def test_invalid_parameters_are_refused_before_any_kernel(nb_dir: Path, tmp_path: Path, given, expected) -> None:
    with pytest.raises(ParameterError) as info:
        run_notebooks(["a_pass"], given, out_dir=tmp_path / "r")
    assert expected in str(info.value)
    assert SECRET not in str(info.value)
    assert info.value.exit_code == 3
    assert not (tmp_path / "r").exists()  # nothing ran, nothing written


def test_required_and_dsn_parameters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "nbs"
    folder.mkdir()
    monkeypatch.setenv("RUNBOOK_NOTEBOOK_DIR", str(folder))
    write_notebook(folder / "db.ipynb", 'database_url: "DsnSecret" = None  # (required) DSN reference', "1")
    with pytest.raises(ParameterError, match="database_url .*a value is required"):
        run_notebooks(["db"], out_dir=tmp_path)
    monkeypatch.setenv("RB_DSN", "not a dsn at all =")
    with pytest.raises(ParameterError, match="not a PostgreSQL DSN") as info:
        run_notebooks(["db"], {"database_url": "env:RB_DSN"}, out_dir=tmp_path)
    assert "not a dsn at all" not in str(info.value)


def test_params_file_sections_and_cli_override(nb_dir: Path, tmp_path: Path) -> None:
    params = tmp_path / "p.yaml"
    params.write_text("count: 2\nreason: from-file\na_pass:\n  name: sectioned\n")
    record = run_notebooks(["a_pass", "b_fail"], {"count": "7"}, params_file=params, out_dir=tmp_path)
    a, b = record.notebooks
    assert a.parameters["name"] == "sectioned" and a.parameters["count"] == 7
    assert b.checks[0]["summary"] == "from-file"


def test_sections_for_notebooks_outside_the_run_are_ignored(nb_dir: Path, tmp_path: Path) -> None:
    params = tmp_path / "p.yaml"
    params.write_text("b_fail:\n  reason: only-for-b\na_pass:\n  count: 4\n")
    record = run_notebooks(["a_pass"], params_file=params, out_dir=tmp_path)
    assert record.notebooks[0].parameters["count"] == 4 and len(record.notebooks) == 1
    params.write_text("b_fail:\n  nope: 1\n")
    with pytest.raises(ParameterError, match="nope"):
        run_notebooks(["b_fail"], params_file=params, out_dir=tmp_path)


def test_report_verify_names_the_tampered_file(nb_dir: Path, tmp_path: Path, capsys) -> None:
    record = run_notebooks(["a_pass"], out_dir=tmp_path)
    run_dir = record.run_dir
    assert main(["report", "verify", str(run_dir)]) == 0
    html = run_dir / "a_pass.html"
    html.chmod(0o644)
    html.write_text(html.read_text().replace("Demo warns", "Demo is fine"))
    assert main(["report", "verify", str(run_dir)]) == 1
    assert "a_pass.html: changed" in capsys.readouterr().err
    run_json = run_dir / "run.json"
    run_json.chmod(0o644)
    run_json.write_text(run_json.read_text().replace('"passed"', '"failed"'))
    assert any(p.startswith("run.json") for p in verify_run(run_dir))
    (run_dir / "extra.txt").write_text("x")
    assert "extra.txt: added after the run" in verify_run(run_dir)


def test_report_show_prints_checks_and_exit_code(nb_dir: Path, tmp_path: Path, capsys) -> None:
    record = run_notebooks(["b_fail"], out_dir=tmp_path)
    assert main(["report", "show", str(record.run_dir)]) == 1
    out = capsys.readouterr().out
    assert "demo.fail" in out and "fix: fix it" in out and "verdict: failed" in out
    assert load_run(record.run_dir).notebooks[0].checks[0]["id"] == "demo.fail"


def test_cli_list_params_and_usage_errors(nb_dir: Path, capsys) -> None:
    assert main(["list"]) == 0
    assert "a_pass" in capsys.readouterr().out
    assert main(["params", "a_pass"]) == 0
    out = capsys.readouterr().out
    assert "count: int (default 1)" in out and "how many" in out and "api_key: Optional[Secret]" in out
    assert main(["run"]) == 3
    assert main(["run", "zz_missing"]) == 3
    assert main(["bogus-command"]) == 3
    bad = nb_dir.parent / "bad.yaml"
    bad.write_text("count: [1, 2\n")
    assert main(["run", "a_pass", "-f", str(bad)]) == 3
    assert "not valid YAML at line" in capsys.readouterr().err


def test_cli_run_is_quiet_and_keeps_out_of_home(nb_dir: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("IPYTHONDIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "MPLCONFIGDIR")}
    env.update(HOME=str(home), RUNBOOK_CACHE_DIR=str(tmp_path / "cache"))
    command = [sys.executable, "-m", "runbook_lib", "run", "a_pass", "b_fail", "--out", str(tmp_path / "o")]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "without encryption" not in proc.stderr and "Traceback" not in proc.stderr
    assert "a_pass: Step one" in proc.stderr  # progress names the notebook and its step
    assert "verdict: failed (exit code 1)" in proc.stdout
    assert list(home.iterdir()) == []


def test_progress_reports_every_cell_of_the_running_notebook_with_its_step(nb_dir: Path, tmp_path: Path) -> None:
    import nbformat

    events: list[dict] = []
    record = run_notebooks(["a_pass"], {"count": "2"}, out_dir=tmp_path / "r", progress=events.append, html=False)
    executed = nbformat.read(record.run_dir / "a_pass.ipynb", as_version=4)
    cells = [e for e in events if not e.get("done")]
    # one event per cell of the notebook as it ran (papermill's injected parameters cell included), in order
    assert [e["cell"] for e in cells] == list(range(1, len(executed.cells) + 1))
    assert {e["cells"] for e in cells} == {len(executed.cells)}
    for event, cell in zip(cells, executed.cells, strict=True):
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            assert event["step"] == cell.source[3:]  # a heading cell already counts as its own step
    assert [e["step"] for e in cells][-1] == "Step two"
    # papermill's own per-cell bookkeeping still happens (its cell_start is not replaced)
    assert all(cell.metadata["papermill"]["status"] == "completed" and cell.metadata["papermill"]["start_time"]
               for cell in executed.cells)
    assert events[-1] == {"notebook": "a_pass", "done": True, "status": "passed", "index": 1, "total": 1}
