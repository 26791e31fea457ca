"""Bounded inputs: parameter sizes, YAML alias expansion and file sizes end in one usage error (exit 3).

Every case runs the real CLI on a small notebook declaring a ``list``, a ``dict`` and a ``str``
parameter; none may start a kernel, create a run folder or print a traceback.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from runbook_lib.cli import main
from runbook_lib.input_limits import LIMITS, expanded_size
from tests.nbfactory import write_notebook


@pytest.fixture
def shapes_nb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    monkeypatch.setenv("RUNBOOK_NOTEBOOK_DIR", str(folder))
    write_notebook(folder / "shapes.ipynb",
                   'models: list = []  # models\nprices: dict = {}  # prices\nnote: str = ""  # a note',
                   "from runbook_lib import Check, show_checks\n"
                   "show_checks(Check.passed('s.n', 'Count', f'{len(models)} models'))")
    return folder


def _refused(args: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; assert a usage error with one message, no traceback and no run folder; return stderr."""
    code = main(["run", "shapes", *args, "--out", str(out), "--no-html"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())
    return err


def _bomb(levels: int, width: int) -> str:
    """A YAML list whose aliases expand to width**levels scalars (the "billion laughs" shape)."""
    word = secrets.token_hex(3)
    lines = ["[&l0 [" + ", ".join([f'"{word}"'] * width) + "],"]
    lines += [f"  &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]," for i in range(1, levels)]
    lines.append("  [" + ", ".join([f"*l{levels - 1}"] * width) + "]]")
    return "\n".join(lines)


def test_an_anchor_bomb_in_a_params_file_is_refused(shapes_nb, tmp_path, capsys):
    width = 8 + secrets.randbelow(4)
    params = tmp_path / "params.yaml"
    params.write_text("models: " + _bomb(7, width) + "\n")     # width**8 > 16M scalars once expanded
    err = _refused(["-f", str(params)], tmp_path / "r", capsys)
    assert f"more than {LIMITS.yaml_nodes:,} values once its aliases are expanded" in err
    assert "anchors and aliases" in err


def test_an_anchor_bomb_in_a_list_parameter_is_refused(shapes_nb, tmp_path, capsys):
    err = _refused(["-p", "models", _bomb(6, 9 + secrets.randbelow(3))], tmp_path / "r", capsys)
    assert "models (list): the value holds more than" in err and "aliases are expanded" in err


def test_self_referencing_aliases_and_deep_nesting_are_refused(shapes_nb, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("prices: &loop {again: *loop}\n")
    assert "nesting deeper than" in _refused(["-f", str(params)], tmp_path / "r", capsys)
    depth = 5000 + secrets.randbelow(1000)
    err = _refused(["-p", "models", "[" * depth + "]" * depth], tmp_path / "r", capsys)
    assert "models (list):" in err and "deeper" in err


def test_an_oversized_value_and_an_oversized_params_file_are_refused(shapes_nb, tmp_path, capsys):
    long_note = secrets.token_urlsafe(LIMITS.value_chars)           # about 4/3 of the limit
    err = _refused(["-p", "note", long_note], tmp_path / "r", capsys)
    assert f"more than {LIMITS.value_chars:,}" in err and long_note[:40] not in err

    params = tmp_path / "params.yaml"
    with params.open("w") as handle:
        handle.write("note: hello\n")
        while handle.tell() <= LIMITS.params_file_bytes:
            handle.write(f"# {secrets.token_hex(60)}\n")
    err = _refused(["-f", str(params)], tmp_path / "r", capsys)
    assert f"larger than {LIMITS.human(LIMITS.params_file_bytes)}" in err


def test_a_binary_params_file_is_a_usage_error(shapes_nb, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_bytes(secrets.token_bytes(4096) + b"\x00")
    assert "is not text" in _refused(["-f", str(params)], tmp_path / "r", capsys)
    params.write_bytes(b"note: caf\xe9\n")                       # Latin-1, not UTF-8
    assert "is not UTF-8 text" in _refused(["-f", str(params)], tmp_path / "r", capsys)


def test_expanded_size_counts_shared_references_and_stops_at_the_budget():
    leaf = ["x"] * 10
    shared = [leaf] * 10
    assert expanded_size(shared, max_nodes=1000, max_depth=5) == 1 + 10 + 100
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="deeper than 50"):
        expanded_size(loop, max_nodes=10_000, max_depth=50)
    with pytest.raises(ValueError, match="more than 99"):
        expanded_size(shared, max_nodes=99, max_depth=5)


def test_values_within_the_limits_still_run(shapes_nb, tmp_path, capsys):
    models = [secrets.token_hex(4) for _ in range(5)]
    params = tmp_path / "params.yaml"
    params.write_text(f"models: &m [{', '.join(models)}]\nprices: {{same: *m}}\n")   # a modest alias is fine
    assert main(["run", "shapes", "-f", str(params), "--out", str(tmp_path / "ok"), "--no-html"]) == 0
    run_json = next((tmp_path / "ok").iterdir()) / "run.json"
    assert "5 models" in run_json.read_text()


def _config_checks(path: Path) -> dict[str, object]:
    from runbook_lib.setup.runbook import SetupRunbook

    rb = SetupRunbook(litellm_config_path=path)
    return {c.id: c for c in rb.run("lint").checks}


def test_a_50_mb_config_is_a_failed_check_unread(tmp_path):
    config = tmp_path / "config.yaml"
    with config.open("w") as handle:
        handle.write("litellm_settings:\n  callbacks: [agentops]\nmodel_list:\n")
        entry = "  - model_name: m{0}\n    litellm_params: {{model: openai/m{0}, api_key: os.environ/K{0}}}\n"
        i = 0
        while handle.tell() < 50 * (1 << 20):
            handle.write("".join(entry.format(i + k) for k in range(1000)))
            i += 1000
    parse = _config_checks(config)["config.parse"]
    assert parse.status.value == "fail"
    assert f"larger than {LIMITS.human(LIMITS.config_file_bytes)}: refused unread" in parse.summary
    assert "right file" in parse.remedy


@pytest.mark.parametrize("shape", ["bomb", "loop", "binary"])
def test_a_hostile_config_is_a_failed_check(tmp_path, shape):
    config = tmp_path / "config.yaml"
    if shape == "bomb":
        config.write_text("litellm_settings:\n  callbacks: " + _bomb(7, 8 + secrets.randbelow(4)) + "\n")
        expected = "values once its aliases are expanded"
    elif shape == "loop":
        config.write_text("general_settings: &g\n  again: *g\n")
        expected = "nesting deeper than"
    else:
        config.write_bytes(b"model_list: []\n" + secrets.token_bytes(512) + b"\x00")
        expected = "is not text"
    parse = _config_checks(config)["config.parse"]
    assert parse.status.value == "fail" and expected in parse.summary, parse.summary


@pytest.mark.parametrize("line", [
    'url: str = "http://h.example/?a=b"  # a default holding =',
    'n: int = 1  # help text with a=b in it',
    'tag: str = "x # y"  # a default holding #',
])
def test_a_declaration_papermill_reads_differently_is_refused(tmp_path, line):
    from runbook_lib.errors import ParameterError
    from runbook_lib.params import read_declarations

    path = write_notebook(tmp_path / "nb.ipynb", 'ok: int = 2  # fine\n' + line, "print(ok)")
    with pytest.raises(ParameterError) as err:
        read_declarations(path)
    assert "nb.ipynb" in err.value.message and "papermill" in (err.value.message + (err.value.hint or ""))
