"""One coherent set of remedies: the corrected config (every remedy applied) passes the lint, for every
config in the fixtures, and keeps the operator's comments and key order."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from runbook_lib.checks import Status
from runbook_lib.sandbox.litellm_proxy import WIRINGS, render_config
from runbook_lib.setup import corrected_config, lint_config, load_config

ROOT = Path(__file__).resolve().parents[1]
SEED = Path("/work/shared/seed")
HANDLER = ROOT / "runbook_lib" / "wiring" / "agentops_selfhosted.py"
LITELLM_KEYS = {"model_list", "litellm_settings", "general_settings"}


def seed_configs() -> list[tuple[str, str]]:
    """The LiteLLM config blocks quoted in the field guide(s)."""
    found = []
    for path in sorted(SEED.glob("000_*.txt")):
        for n, block in enumerate(re.findall(r"```ya?ml\n(.*?)```", path.read_text(encoding="utf-8"), re.S)):
            text = textwrap.dedent(block)
            doc = yaml.safe_load(text)
            if isinstance(doc, dict) and set(doc) & LITELLM_KEYS:
                found.append((f"{path.name}#{n}", text))
    return found


def fixture_configs() -> list[tuple[str, str]]:
    proxy_configs = sorted((ROOT / "examples").glob("litellm_config*.yaml"))
    configs = [(p.name, p.read_text(encoding="utf-8")) for p in proxy_configs]
    configs += [(f"sandbox:{w}", render_config(w)) for w in WIRINGS]
    return configs + seed_configs()


CONFIGS = fixture_configs()


def test_the_fixtures_include_the_field_guide_and_its_quoted_blocks():
    names = [n for n, _ in CONFIGS]
    assert "litellm_config.field_guide.yaml" in names
    assert any(n.startswith("000_") for n in names)  # the guide's own blocks


@pytest.mark.parametrize(("name", "text"), CONFIGS, ids=[n for n, _ in CONFIGS])
def test_applying_every_remedy_passes_the_lint(tmp_path, name, text):
    original = tmp_path / "config.yaml"
    original.write_text(text, encoding="utf-8")
    loaded = load_config(original)
    corrected = tmp_path / "fixed" / "config.yaml"
    corrected.parent.mkdir()
    corrected.write_text(corrected_config(loaded.doc, original_text=loaded.text), encoding="utf-8")
    shutil.copy(HANDLER, corrected.parent / HANDLER.name)  # the handler-module remedy: copy the module
    names = {n for n in re.findall(r"os\.environ/([A-Za-z0-9_]+)", corrected.read_text())}
    env = dict.fromkeys(names, "set-in-the-proxy")  # the env-ref remedy: set every referenced variable
    checks = lint_config(corrected, env=env)
    has_models = bool(loaded.doc.get("model_list"))
    bad = [(c.id, c.status.value, c.summary) for c in checks
           if c.status not in (Status.PASS, Status.SKIP) and (has_models or c.id != "config.model_list")]
    assert bad == [], name
    if not has_models:  # a quoted fragment: the only remedy no correction can apply is naming your models
        assert {c.id: c.status for c in checks}["config.model_list"] is Status.FAIL


def test_the_correction_keeps_comments_and_key_order(tmp_path):
    text = ("# my proxy\n"
            "model_list:  # models first, as we like it\n"
            "  - model_name: m  # the only one\n"
            "    litellm_params:\n"
            "      model: openai/m\n"
            "\n"
            "litellm_settings:\n"
            "  drop_params: true  # keep this comment\n"
            "  agentops_api_key: os.environ/AGENTOPS_API_KEY\n"
            "\n"
            "general_settings:\n"
            "  master_key: sk-literal-0000\n"
            "  success_callback: [\"agentops\"]\n"
            "  alerting: [\"slack\"]  # and this one\n")
    fixed = corrected_config(yaml.safe_load(text), original_text=text)
    for comment in ("# my proxy", "# models first, as we like it", "# the only one", "# keep this comment",
                    "# and this one"):
        assert comment in fixed
    body = yaml.safe_load(fixed)
    assert list(body) == ["model_list", "litellm_settings", "general_settings"]
    assert list(body["litellm_settings"]) == ["callbacks", "drop_params"]
    assert body["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY", "alerting": ["slack"]}
    assert "sk-literal-0000" not in fixed
