"""The CLI habits of pytest and kubectl: run order, verdicts, suggestions, machine-readable output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbook_lib.cli import main
from runbook_lib.notebooks import RUN_ORDER, expand_names, list_notebooks
from runbook_lib.record import EXIT_CODES
from runbook_lib.sandbox.demo import DEMO_ORDER
from tests.nbfactory import write_notebook

SHIPPED = Path(__file__).resolve().parents[1] / "notebooks"


def test_run_all_runs_in_dependency_order_declared_once(monkeypatch):
    monkeypatch.delenv("RUNBOOK_NOTEBOOK_DIR", raising=False)
    assert [nb.name for nb in expand_names(["all"])] == list(RUN_ORDER)
    assert RUN_ORDER[0] == "10_migration"  # the repair before what a drifted database breaks
    assert DEMO_ORDER == RUN_ORDER
    assert [nb.name for nb in list_notebooks()] == list(RUN_ORDER)


def test_other_notebooks_follow_the_declared_order_by_name(tmp_path, monkeypatch):
    for name in ("zz_extra", "00_setup", "aa_extra", "10_migration"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    monkeypatch.setenv("RUNBOOK_NOTEBOOK_DIR", str(tmp_path))
    assert [nb.name for nb in expand_names(["all"])] == ["10_migration", "00_setup", "aa_extra", "zz_extra"]


# -- verdicts: nothing checked is not passed; CI can fail on warnings ---------------------------------

SHOW = "from runbook_lib import Check, show_checks\nshow_checks([{checks}])"


@pytest.fixture
def ci_notebooks(tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    monkeypatch.setenv("RUNBOOK_NOTEBOOK_DIR", str(folder))
    write_notebook(folder / "a_skips.ipynb", "x: int = 0  # unused", SHOW.format(checks=(
        'Check.skipped("a.one", "One", "url not given"), Check.skipped("a.two", "Two", "url not given")')))
    write_notebook(folder / "b_warns.ipynb", "x: int = 0  # unused", SHOW.format(checks=(
        'Check.passed("b.ok", "Fine"), Check.warned("b.spans", "Spans", "no spans in window", remedy="send some")')))
    write_notebook(folder / "c_fails.ipynb", "x: int = 0  # unused", SHOW.format(checks=(
        'Check.passed("c.ok", "Fine"), Check.failed("c.bad", "Bad", "broken", remedy="fix it")')))
    return folder


def run_cli(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_a_notebook_whose_checks_all_skipped_is_not_passed(ci_notebooks, tmp_path, capsys):
    code, out = run_cli(capsys, "run", "a_skips", "--out", str(tmp_path / "r"), "--no-html")
    assert code == EXIT_CODES["incomplete"] == 6
    run = json.loads(next((tmp_path / "r").iterdir()).joinpath("run.json").read_text())
    assert run["verdict"] == "incomplete" and run["notebooks"][0]["status"] == "skipped"
    assert "every check skipped" in out and "verdict: incomplete (exit code 6)" in out


def test_the_setup_runbook_without_parameters_checks_nothing_and_says_so():
    from runbook_lib.setup import SetupRunbook

    rb = SetupRunbook()
    rb.run_all()
    assert {c.status.value for c in rb.checks} == {"skip"}  # no vacuous pass left
    assert rb.verdict() == "skipped"


def test_warnings_pass_by_default_and_fail_with_fail_on_warn_or_strict(ci_notebooks, tmp_path, capsys):
    code, out = run_cli(capsys, "run", "b_warns", "--out", str(tmp_path / "r1"), "--no-html")
    assert code == 0 and "warnings: b_warns/b.spans" in out
    code, out = run_cli(capsys, "run", "b_warns", "--out", str(tmp_path / "r2"), "--no-html", "--fail-on", "warn")
    assert code == 1 and "--fail-on warn: exit code 1 because of 1 warning(s)" in out
    code, _ = run_cli(capsys, "run", "b_warns", "--out", str(tmp_path / "r3"), "--no-html", "--strict")
    assert code == 1


def test_every_summary_names_failing_checks_and_warnings(ci_notebooks, tmp_path, capsys):
    code, out = run_cli(capsys, "run", "b_warns", "c_fails", "--out", str(tmp_path / "r"), "--no-html")
    assert code == 1
    assert "failing: c_fails/c.bad" in out and "warnings: b_warns/b.spans" in out


# -- names, suggestions and error messages -------------------------------------------------------------


def test_a_check_id_is_never_listed_twice(ci_notebooks, tmp_path, capsys):
    write_notebook(ci_notebooks / "d_twice.ipynb", "x: int = 0  # unused",
                   SHOW.format(checks='Check.failed("d.same", "Same", "first try", remedy="retry")'),
                   SHOW.format(checks='Check.passed("d.other", "Other")'),
                   SHOW.format(checks='Check.passed("d.same", "Same", "second try")'))
    code, _ = run_cli(capsys, "run", "d_twice", "--out", str(tmp_path / "r"), "--no-html")
    run = json.loads(next((tmp_path / "r").iterdir()).joinpath("run.json").read_text())
    assert [(c["id"], c["status"]) for c in run["notebooks"][0]["checks"]] == [("d.same", "pass"), ("d.other", "pass")]
    assert code == 0


def test_did_you_mean_for_notebooks_and_parameters(monkeypatch, capsys):
    monkeypatch.delenv("RUNBOOK_NOTEBOOK_DIR", raising=False)
    assert main(["run", "10_migratoin"]) == 3
    err = capsys.readouterr().err
    assert "did you mean 10_migration?" in err
    assert main(["run", "20_callback_verification", "-p", "modle", "x"]) == 3
    err = capsys.readouterr().err
    assert "did you mean model?" in err
    assert "`runbook params 20_callback_verification`" in err and "NOTEBOOK" not in err


def test_a_list_error_shows_the_list_syntax(monkeypatch, capsys):
    from runbook_lib.params import read_declarations

    monkeypatch.delenv("RUNBOOK_NOTEBOOK_DIR", raising=False)
    specs = read_declarations(SHIPPED / "30_trace_analytics.ipynb")
    listed = next(name for name, spec in specs.items() if spec.type_name == "list")
    assert main(["run", "30_trace_analytics", "-p", listed, "7"]) == 3
    err = capsys.readouterr().err
    assert "'[a, b]'" in err and "runbook params 30_trace_analytics" in err


# -- remedies give the command to paste ----------------------------------------------------------------


def test_remedies_give_the_command_to_paste(monkeypatch):
    import runbook_lib
    from runbook_lib.cli import build_parser
    from runbook_lib.commands import repair_schema_command, run_command

    monkeypatch.delenv("RUNBOOK_RUN_PARAMS_FILE", raising=False)
    monkeypatch.delenv("RUNBOOK_PARAMS_FILE", raising=False)
    repair = repair_schema_command()
    assert repair == "runbook run 10_migration -f params.yaml -p apply true"
    assert run_command("10_migration", "my params.yaml", set_prem_status="enterprise", apply=True) == (
        "runbook run 10_migration -f 'my params.yaml' -p set_prem_status enterprise -p apply true")
    # the command parses as the CLI takes it
    args = build_parser().parse_args(repair.split()[1:])
    assert args.notebooks == ["10_migration"] and args.params_file == "params.yaml"
    # no remedy source in the library talks notebook language any more
    root = Path(runbook_lib.__file__).parent
    modules = [root / m for m in ("db/drift.py", "db/auth_probe.py", "clients/agentops.py",
                                  "verification/diagnosis.py")]
    repair = sorted((root / "db" / "repair").glob("*.py"))
    assert any(m.name == "run.py" for m in repair), repair
    modules += repair
    for module in modules:
        text = module.read_text()
        assert "apply=True)\"" not in text and "with apply=True" not in text, module


def test_remedies_name_the_params_file_of_this_run(monkeypatch):
    """The runner's -f file (set for its kernels), else the file `runbook lab` named, else params.yaml."""
    from runbook_lib.commands import RUN_PARAMS_FILE_ENV, repair_store_command, run_command
    from runbook_lib.lab_params import PARAMS_FILE_ENV

    monkeypatch.delenv(RUN_PARAMS_FILE_ENV, raising=False)
    monkeypatch.delenv(PARAMS_FILE_ENV, raising=False)
    assert run_command("00_setup").endswith("-f params.yaml")  # JupyterLab without a file
    monkeypatch.setenv(PARAMS_FILE_ENV, "/srv/ops/lab params.yaml")
    assert run_command("00_setup") == "runbook run 00_setup -f '/srv/ops/lab params.yaml'"
    monkeypatch.setenv(RUN_PARAMS_FILE_ENV, ".sandbox/params.yaml")
    assert repair_store_command().startswith("runbook run 30_trace_analytics -f .sandbox/params.yaml -p ")
    assert run_command("10_migration", "prod.yaml", apply=True) == "runbook run 10_migration -f prod.yaml -p apply true"


# -- times are checked before any kernel -------------------------------------------------------------


@pytest.mark.parametrize("value", ["yesterday", "-7 days", "2026-13-01", "+1h"])
def test_a_window_time_that_cannot_be_read_is_refused_before_any_kernel(value, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RUNBOOK_NOTEBOOK_DIR", raising=False)
    code = main(["run", "30_trace_analytics", "-p", "start", value, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 3 and "start" in err and "-24h" in err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


@pytest.mark.parametrize(("start", "end"), [("-24h", "-48h"), ("now", None), ("2026-01-02", "2026-01-01T12:00:00Z"),
                                            ("2026-01-01", "2026-01-01T00:00:00Z")])
def test_a_window_whose_start_is_not_before_its_end_is_refused_before_any_kernel(start, end, tmp_path, capsys,
                                                                                 monkeypatch):
    monkeypatch.delenv("RUNBOOK_NOTEBOOK_DIR", raising=False)
    argv = ["run", "30_trace_analytics", "-p", "start", start, "--out", str(tmp_path / "r")]
    code = main(argv + (["-p", "end", end] if end else []))  # end left at its default: now
    err = capsys.readouterr().err
    assert code == 3 and "is not after start" in err and "-p start -7d -p end now" in err, err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_a_window_in_order_passes_the_parameter_check():
    from runbook_lib.notebooks import find_notebook
    from runbook_lib.params import coerce_parameters, read_declarations

    specs = read_declarations(find_notebook("30_trace_analytics").path)
    for start, end in (("-48h", "-24h"), ("2026-01-01", "2026-01-01T00:00:01Z"), ("-7d", "now")):
        values = coerce_parameters(specs, {"start": start, "end": end}, notebook="30_trace_analytics")
        assert (values["start"], values["end"]) == (start, end)


def test_time_parameters_keep_what_the_operator_wrote():
    from runbook_lib.notebooks import find_notebook
    from runbook_lib.params import coerce_parameters, read_declarations

    specs = read_declarations(find_notebook("30_trace_analytics").path)
    values = coerce_parameters(specs, {"start": " -30d ", "end": "2026-12-01T00:00:00Z"}, notebook="30_trace_analytics")
    assert values["start"] == "-30d" and values["end"] == "2026-12-01T00:00:00Z"


# -- a reader that stops early ---------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["params", "30_trace_analytics"], ["params", "--template", "all"], ["list"]])
def test_output_piped_to_a_reader_that_closed_stops_quietly(argv, tmp_path):
    """``runbook params X | head``: stdout is a pipe whose reader is gone (closed before the command starts,
    so the first write fails every time): no traceback, the exit code of a program killed by SIGPIPE."""
    import os
    import subprocess
    import sys

    from runbook_lib.cli import EXIT_BROKEN_PIPE

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "runbook_lib", *argv], stdout=write_end, stderr=subprocess.PIPE,
                              cwd=Path(__file__).resolve().parents[1], text=True, check=False)
    finally:
        os.close(write_end)
    assert done.returncode == EXIT_BROKEN_PIPE, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr


# -- a report path that is not there is a usage error ----------------------------------------------------


@pytest.mark.parametrize("argv", [["report", "list", "{missing}"], ["report", "show", "{missing}"],
                                  ["report", "show", "{missing}", "--failed"], ["report", "verify", "{missing}"],
                                  ["report", "diff", "{missing}", "{missing}"], ["report", "repair", "{missing}"]],
                         ids=lambda argv: " ".join(argv[:2] + [a for a in argv[2:] if a.startswith("--")]))
def test_a_missing_report_path_is_a_usage_error_naming_it(argv, tmp_path, capsys):
    missing = tmp_path / "no such reports"
    assert main([a.format(missing=missing) for a in argv]) == 3
    err = capsys.readouterr().err
    assert f"{missing}: no such folder" in err and "fix: pass the folder" in err


def test_report_paths_that_are_no_report_folder(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    assert main(["report", "list", str(tmp_path / "notes.txt")]) == 3
    assert "is a file, not a folder" in capsys.readouterr().err
    # a folder of runs given where one run is wanted: the fix names one of them
    run = tmp_path / "reports" / "20261127T210000Z-ab12cd34"
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
    assert main(["report", "show", str(tmp_path / "reports")]) == 3
    err = capsys.readouterr().err
    assert "is not a report folder (no run.json)" in err and str(run) in err
    # the first run is there, the second is not: still a usage error, naming the missing one
    assert main(["report", "diff", str(run), str(tmp_path / "gone")]) == 3
    assert f"{tmp_path / 'gone'}: no such folder" in capsys.readouterr().err
    # a sealed folder whose run.json was removed is a damaged report (exit 1), not a usage error
    sealed = tmp_path / "sealed"
    sealed.mkdir()
    (sealed / "SHA256SUMS").write_text("")
    assert main(["report", "show", str(sealed)]) == 1
    assert "run.json is missing from a sealed report folder" in capsys.readouterr().err
