"""00_setup config lint: every check in pass and fail states, the field guide's config, apply."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from runbook_lib.setup import (
    correct_config,
    corrected_config,
    lint_config,
    load_config,
    render_wiring_snippet,
    write_corrected,
)
from runbook_lib.setup.config_lint import lint_loaded

ROOT = Path(__file__).resolve().parents[1]
FIELD_GUIDE = ROOT / "examples" / "litellm_config.field_guide.yaml"
SELFHOSTED = ROOT / "examples" / "litellm_config.selfhosted.yaml"
GOOD_ENV = {"LITELLM_MASTER_KEY": "sk-from-env-0000"}


def by_id(checks):
    return {c.id: c for c in checks}


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def all_text(checks) -> str:
    return json.dumps([c.to_dict() for c in checks]) + "".join(
        f"{c.summary} {c.remedy} {json.dumps(c.evidence)}" for c in checks)


# -- the field guide's config ----------------------------------------------------------------------


def test_field_guide_config_matches_the_guide():
    doc = yaml.safe_load(FIELD_GUIDE.read_text(encoding="utf-8"))
    assert doc["general_settings"]["success_callback"] == ["agentops"]
    assert set(doc["litellm_settings"]) == {"agentops_api_key", "agentops_endpoint", "agentops_app_url"}


def test_field_guide_config_yields_the_right_failures():
    checks = by_id(lint_config(FIELD_GUIDE, env={"AGENTOPS_API_KEY": "k", "AGENTOPS_API_ENDPOINT": "u",
                                                 "AGENTOPS_APP_URL": "a", "QWEN_API_BASE": "b",
                                                 "QWEN_API_KEY": "q"}))
    placement = checks["config.callbacks.placement"]
    assert placement.status.value == "fail" and placement.severity.value == "critical"
    assert "ignores it there" in placement.summary
    # the remedy shows what the corrected config has, never the cloud callback moved verbatim
    assert "litellm_settings:\n  callbacks:\n    - agentops_selfhosted.handler" in placement.remedy
    assert "- agentops\n" not in placement.remedy
    keys = checks["config.agentops_keys"]
    assert keys.status.value == "fail"
    assert keys.evidence["keys"] == ["litellm_settings.agentops_api_key", "litellm_settings.agentops_endpoint",
                                     "litellm_settings.agentops_app_url"]
    target = checks["config.callbacks.agentops_target"]
    assert target.status.value == "fail" and "hard-coded" in target.summary
    assert "agentops_selfhosted.handler" in target.remedy and "AGENTOPS_EXPORTER_ENDPOINT" in target.remedy
    assert checks["config.master_key"].status.value == "warn"
    assert checks["config.env_refs"].status.value == "pass"
    assert checks["config.model_list"].status.value == "pass"
    assert "sk-1234" not in all_text(checks.values())


def test_selfhosted_example_passes_every_check():
    checks = lint_config(SELFHOSTED, env=GOOD_ENV)
    bad = [(c.id, c.status.value) for c in checks if c.status.value not in ("pass", "skip")]
    assert bad == []
    assert by_id(checks)["config.callbacks.handler_module"].status.value == "pass"


# -- parsing ---------------------------------------------------------------------------------------


def test_malformed_yaml_gives_line_and_column(tmp_path):
    path = write(tmp_path, "model_list:\n  - model_name: a\nlitellm_settings:\n  callbacks: [\"x\"\n  foo: 1\n")
    checks = lint_config(path, env={})
    assert [c.id for c in checks] == ["config.parse"]
    parse = checks[0]
    assert parse.status.value == "fail"
    assert parse.evidence["line"] == 5 and parse.evidence["column"] == 3
    assert "at line 5, column 3" in parse.summary
    assert "flow sequence started at line 4, column 14" in parse.summary


def test_tab_indentation_is_reported_with_position(tmp_path):
    path = write(tmp_path, "general_settings:\n\tmaster_key: x\n")
    parse = lint_config(path, env={})[0]
    assert parse.status.value == "fail" and parse.evidence["line"] == 2


@pytest.mark.parametrize(("text", "fragment"), [("", "is empty"), ("- a\n- b\n", "not a mapping")])
def test_empty_or_non_mapping_config_fails(tmp_path, text, fragment):
    parse = lint_config(write(tmp_path, text), env={})[0]
    assert parse.status.value == "fail" and fragment in parse.summary


def test_missing_file_fails_cleanly(tmp_path):
    parse = lint_config(tmp_path / "nope.yaml", env={})[0]
    assert parse.status.value == "fail" and "does not exist" in parse.summary


def test_no_path_is_skipped():
    assert [c.status.value for c in lint_loaded(None)] == ["skip"]


def test_duplicate_top_level_block_is_warned(tmp_path):
    text = ("litellm_settings:\n  callbacks: [agentops_selfhosted.handler]\n"
            "model_list: []\nlitellm_settings:\n  drop_params: true\n")
    checks = by_id(lint_config(write(tmp_path, text), env={}))
    dup = checks["config.duplicate_keys"]
    assert dup.status.value == "warn" and dup.evidence["duplicates"] == [{"key": "litellm_settings", "line": 4}]
    # like the proxy, the later block wins: no callbacks left
    assert checks["config.callbacks.placement"].status.value == "fail"


# -- placement -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "status"),
    [("litellm_settings:\n  callbacks: [agentops_selfhosted.handler]\n", "pass"),
     ("litellm_settings:\n  callbacks: agentops_selfhosted.handler\n", "pass"),  # single string accepted
     ("general_settings:\n  callbacks: [agentops_selfhosted.handler]\n", "fail"),
     ("general_settings:\n  success_callback: [agentops]\nlitellm_settings:\n  success_callback: [agentops]\n",
      "warn"),
     ("litellm_settings:\n  drop_params: true\n", "fail")],
)
def test_callback_placement(tmp_path, text, status):
    check = by_id(lint_config(write(tmp_path, text), env={}))["config.callbacks.placement"]
    assert check.status.value == status


def test_agentops_keys_pass_when_absent(tmp_path):
    path = write(tmp_path, "litellm_settings:\n  callbacks: [agentops_selfhosted.handler]\n  drop_params: true\n")
    assert by_id(lint_config(path, env={}))["config.agentops_keys"].status.value == "pass"


# -- agentops target and callback kind -------------------------------------------------------------


@pytest.mark.parametrize(
    ("callbacks", "status"),
    [("callbacks: [agentops]", "fail"), ("success_callback: [agentops]", "fail"),
     ("callbacks: [agentops_selfhosted.handler]", "pass"), ("callbacks: [otel]", "warn"),
     ("callbacks: [langfuse]", "fail")],
)
def test_agentops_target(tmp_path, callbacks, status):
    check = by_id(lint_config(write(tmp_path, f"litellm_settings:\n  {callbacks}\n"), env={}))
    assert check["config.callbacks.agentops_target"].status.value == status


@pytest.mark.parametrize(
    ("callbacks", "status"),
    [("success_callback: [agentops_selfhosted.handler]", "warn"), ("success_callback: [agentops]", "warn"),
     ("callbacks: [agentops_selfhosted.handler]", "pass"), ("callbacks: [langfuse]", "skip")],
)
def test_callback_kind(tmp_path, callbacks, status):
    check = by_id(lint_config(write(tmp_path, f"litellm_settings:\n  {callbacks}\n"), env={}))
    assert check["config.callbacks.kind"].status.value == status


def test_handler_module_must_sit_next_to_config(tmp_path):
    path = write(tmp_path, "litellm_settings:\n  callbacks: [agentops_selfhosted.handler]\n")
    check = by_id(lint_config(path, env={}))["config.callbacks.handler_module"]
    assert check.status.value == "fail" and "agentops_selfhosted.py" in check.remedy
    (tmp_path / "agentops_selfhosted.py").write_text("handler = None\n")
    assert by_id(lint_config(path, env={}))["config.callbacks.handler_module"].status.value == "pass"


# -- os.environ references -------------------------------------------------------------------------


def test_env_refs_report_unset_names_without_values(tmp_path):
    text = ("model_list:\n  - model_name: m\n    litellm_params:\n      api_key: os.environ/RB_KEY_SET\n"
            "      api_base: os.environ/RB_BASE_UNSET\n"
            "general_settings:\n  master_key: os.environ/RB_MASTER_UNSET\n")
    env = {"RB_KEY_SET": "secret-value-that-must-not-show"}
    check = by_id(lint_config(write(tmp_path, text), env=env))["config.env_refs"]
    # Without a proxy to ask, what this environment lacks could not be verified: a warning, not a failure.
    assert check.status.value == "warn"
    assert check.evidence["unset"] == ["RB_BASE_UNSET", "RB_MASTER_UNSET"]
    assert check.evidence["used_at"]["RB_BASE_UNSET"] == ["model_list[0].litellm_params.api_base"]
    assert "could not verify RB_BASE_UNSET, RB_MASTER_UNSET" in check.summary and "None" in check.summary
    assert "secret-value-that-must-not-show" not in all_text([check])
    env.update(RB_BASE_UNSET="x", RB_MASTER_UNSET="y")
    assert by_id(lint_config(write(tmp_path, text), env=env))["config.env_refs"].status.value == "pass"


def test_env_refs_are_judged_by_what_the_running_proxy_shows(tmp_path):
    from runbook_lib.setup.config_lint import lint_loaded, load_config
    from runbook_lib.setup.proxy_env import ProxyView

    text = ("model_list:\n  - model_name: m\n    litellm_params:\n      api_base: os.environ/RB_BASE\n"
            "general_settings:\n  master_key: os.environ/RB_MASTER\n")
    loaded = load_config(write(tmp_path, text))
    seen = ProxyView("http://127.0.0.1:4000", reachable=True,
                     resolved={"general_settings.master_key": True, "model_list[0].litellm_params.api_base": True})
    check = by_id(lint_loaded(loaded, env={}, proxy=seen))["config.env_refs"]
    assert check.status.value == "pass"  # unset here, resolved in the proxy: no false red
    assert check.evidence["resolved_in_proxy"] == ["RB_BASE", "RB_MASTER"]
    seen.resolved["model_list[0].litellm_params.api_base"] = False
    check = by_id(lint_loaded(loaded, env={"RB_BASE": "x"}, proxy=seen))["config.env_refs"]
    assert check.status.value == "fail" and check.evidence["unset_in_proxy"] == ["RB_BASE"]
    unreachable = ProxyView("http://127.0.0.1:9", problem="connection refused")
    check = by_id(lint_loaded(loaded, env={}, proxy=unreachable))["config.env_refs"]
    assert check.status.value == "warn" and "connection refused" in check.summary


def test_env_refs_skip_without_references(tmp_path):
    check = by_id(lint_config(write(tmp_path, "litellm_settings: {}\n"), env={}))["config.env_refs"]
    assert check.status.value == "skip"


def test_env_ref_as_bare_list_item_is_warned(tmp_path):
    text = "litellm_settings:\n  callbacks: [agentops_selfhosted.handler]\n  fallbacks: [os.environ/RB_X]\n"
    checks = by_id(lint_config(write(tmp_path, text), env={"RB_X": "1"}))
    assert checks["config.env_refs.in_lists"].status.value == "warn"
    assert checks["config.env_refs.in_lists"].evidence["paths"] == ["litellm_settings.fallbacks[0]"]


# -- model list, master key, otel packages ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "status"),
    [("model_list:\n  - model_name: a\n    litellm_params: {model: openai/a}\n", "pass"),
     ("model_list: []\n", "fail"), ("litellm_settings: {}\n", "fail")],
)
def test_model_list(tmp_path, text, status):
    assert by_id(lint_config(write(tmp_path, text), env={}))["config.model_list"].status.value == status


@pytest.mark.parametrize(
    ("text", "status"),
    [("general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n", "pass"),
     ("general_settings:\n  master_key: sk-literal-master-9876\n", "warn"),
     ("general_settings: {}\n", "fail")],
)
def test_master_key(tmp_path, text, status):
    checks = lint_config(write(tmp_path, text), env={})
    check = by_id(checks)["config.master_key"]
    assert check.status.value == status
    assert "sk-literal-master-9876" not in all_text(checks)


def test_otel_packages_checked_only_for_exporting_callbacks(tmp_path):
    with_cb = by_id(lint_config(write(tmp_path, "litellm_settings:\n  callbacks: [otel]\n"), env={}))
    assert with_cb["config.otel_packages"].status.value == "pass"  # the test venv has the sandbox extra
    without = by_id(lint_config(write(tmp_path, "litellm_settings:\n  callbacks: [langfuse]\n"), env={}))
    assert without["config.otel_packages"].status.value == "skip"


def test_otel_packages_missing_is_warned(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("opentelemetry") else real(name, *a))
    check = by_id(lint_config(write(tmp_path, "litellm_settings:\n  callbacks: [agentops]\n"), env={}))
    assert check["config.otel_packages"].status.value == "warn"
    assert "opentelemetry.sdk" in check["config.otel_packages"].evidence["missing"]


# -- wiring snippet --------------------------------------------------------------------------------


def test_wiring_snippet_names_handler_and_env_without_secrets():
    text = render_wiring_snippet("http://localhost:8003/", "http://localhost:4318")
    assert 'callbacks: ["agentops_selfhosted.handler"]' in text
    assert "AGENTOPS_API_ENDPOINT=http://localhost:8003\n" in text
    assert "AGENTOPS_EXPORTER_ENDPOINT=http://localhost:4318/v1/traces\n" in text
    assert "AGENTOPS_API_KEY=${AGENTOPS_API_KEY}" in text
    assert "host.docker.internal" in text  # localhost seen from the proxy container
    assert text.count("means 'this machine'") == 1  # one note for both localhost URLs, said once
    assert "# AGENTOPS_API_ENDPOINT and AGENTOPS_EXPORTER_ENDPOINT: " in text
    plain = render_wiring_snippet("https://agentops.internal.example", "https://otel.internal.example/v1/traces")
    assert "host.docker.internal" not in plain


# -- corrected config and apply --------------------------------------------------------------------


def test_corrected_config_fixes_the_field_guide():
    loaded = load_config(FIELD_GUIDE)
    fixed = yaml.safe_load(corrected_config(loaded.doc, original_text=loaded.text))
    assert fixed["litellm_settings"] == {"callbacks": ["agentops_selfhosted.handler"]}
    assert fixed["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY"}  # the literal key is gone
    assert fixed["model_list"] == loaded.doc["model_list"]
    assert "environment_variables" not in fixed  # the removed refs already named the handler's variables
    relinted = by_id(lint_config_text(corrected_config(loaded.doc)))
    for cid in ("config.callbacks.placement", "config.agentops_keys", "config.callbacks.agentops_target",
                "config.callbacks.kind"):
        assert relinted[cid].status.value == "pass", cid


def lint_config_text(text: str):
    from runbook_lib.setup.config_lint import lint_document

    return lint_document(yaml.safe_load(text), env={})


def test_corrected_config_moves_differently_named_refs_to_environment_variables():
    doc = {"general_settings": {"callbacks": ["agentops", "langfuse"]},
           "litellm_settings": {"success_callback": ["agentops"], "agentops_api_key": "os.environ/MY_KEY",
                                "agentops_endpoint": "http://api:8000", "drop_params": True}}
    fixed = yaml.safe_load(corrected_config(doc))
    assert fixed["litellm_settings"] == {"callbacks": ["langfuse", "agentops_selfhosted.handler"],
                                         "drop_params": True}
    assert fixed["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY"}
    assert fixed["environment_variables"] == {"AGENTOPS_API_KEY": "os.environ/MY_KEY",
                                              "AGENTOPS_API_ENDPOINT": "http://api:8000"}


def test_correction_report_only_writes_nothing(tmp_path):
    path = tmp_path / "config.yaml"
    shutil.copy(FIELD_GUIDE, path)
    result = correct_config(load_config(path), apply=False)
    assert result.check.status.value == "skip" and result.written is None
    assert "runbook run 00_setup -f params.yaml -p apply true" in result.check.summary  # the command, not apply=True
    assert "apply=True" not in result.check.summary
    assert "-  success_callback: [\"agentops\"]" in result.diff
    assert "sk-1234" not in result.diff and "master_key: [REDACTED]" in result.diff
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_apply_writes_next_to_original_and_never_overwrites(tmp_path):
    path = tmp_path / "config.yaml"
    shutil.copy(FIELD_GUIDE, path)
    before = path.read_bytes()
    result = correct_config(load_config(path), apply=True)
    assert result.check.status.value == "pass"
    assert result.written == tmp_path / "config.corrected.yaml"
    assert path.read_bytes() == before
    assert yaml.safe_load(result.written.read_text())["litellm_settings"]["callbacks"] == [
        "agentops_selfhosted.handler"]
    # a second apply with the same result reuses the file; a different one picks a new name
    assert correct_config(load_config(path), apply=True).written == result.written
    result.written.write_text("# edited by the operator\n")
    again = correct_config(load_config(path), apply=True)
    assert again.written == tmp_path / "config.corrected.2.yaml"
    assert result.written.read_text() == "# edited by the operator\n"
    assert path.read_bytes() == before


def test_apply_on_a_correct_config_writes_nothing(tmp_path):
    path = tmp_path / "config.yaml"
    shutil.copy(SELFHOSTED, path)
    result = correct_config(load_config(path), apply=True)
    assert result.check.status.value == "pass" and result.written is None and result.diff == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_apply_that_cannot_write_fails_as_a_check(tmp_path):
    path = tmp_path / "config.yaml"
    shutil.copy(FIELD_GUIDE, path)
    (tmp_path / "config.corrected.yaml").mkdir()  # something unwritable in the way (works as root too)
    result = correct_config(load_config(path), apply=True)
    assert result.check.status.value == "fail" and result.written is None
    assert "could not write" in result.check.summary
    assert path.read_text() == FIELD_GUIDE.read_text()


def test_write_corrected_never_targets_the_original(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("a: 1\n")
    written = write_corrected(path, "a: 2\n")
    assert written.name == "config.corrected.yaml" and path.read_text() == "a: 1\n"


def test_malformed_config_is_not_corrected(tmp_path):
    path = write(tmp_path, "a: [\n")
    result = correct_config(load_config(path), apply=True)
    assert result.check.status.value == "skip" and result.written is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]
