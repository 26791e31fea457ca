"""00_setup against the real LiteLLM proxy and the AgentOps stand-ins (API over PostgreSQL, collector)."""

from __future__ import annotations

import pytest

from runbook_lib.runner import run_notebooks
from runbook_lib.sandbox.litellm_proxy import MASTER_KEY_ENV

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]


def run_00(tmp_path, proxy, api, store, key_ref):
    return run_notebooks(["00_setup"], {
        "litellm_config_path": str(proxy.process.config_path), "litellm_url": proxy.url,
        "litellm_master_key": proxy.master_key_ref, "agentops_api_url": api.url, "agentops_api_key": key_ref,
        "otlp_endpoint": store.otlp_url, "timeout_s": 10}, out_dir=tmp_path / "reports")


def test_selfhosted_wiring_passes_live(tmp_path, monkeypatch, agentops_api, trace_store, start_litellm_proxy,
                                       litellm_master_key):
    proxy = start_litellm_proxy("selfhosted", api=agentops_api, store=trace_store)
    monkeypatch.setenv(MASTER_KEY_ENV, litellm_master_key[0])  # what the config's os.environ/ ref names
    record = run_00(tmp_path, proxy, agentops_api, trace_store, proxy.api_key_ref)
    st = {c["id"]: c["status"] for c in record.notebooks[0].checks}
    for cid in ("config.callbacks.placement", "config.callbacks.agentops_target", "config.callbacks.handler_module",
                "litellm.liveliness", "litellm.readiness", "litellm.logger_built", "litellm.callbacks",
                "litellm.config_drift", "litellm.models", "agentops.health", "agentops.auth_token",
                "agentops.token_valid", "collector.reachable", "collector.auth"):
        assert st[cid] == "pass", (cid, st)
    assert record.exit_code == 0, st


def test_field_guide_wiring_fails_live(tmp_path, monkeypatch, agentops_api, trace_store, start_litellm_proxy,
                                       litellm_master_key, agentops_api_key_ref):
    proxy = start_litellm_proxy("general_settings", api=agentops_api, store=trace_store)
    monkeypatch.setenv(MASTER_KEY_ENV, litellm_master_key[0])
    record = run_00(tmp_path, proxy, agentops_api, trace_store, agentops_api_key_ref(agentops_api))
    st = {c["id"]: c["status"] for c in record.notebooks[0].checks}
    assert record.exit_code == 1
    for cid in ("config.callbacks.placement", "config.agentops_keys", "config.callbacks.agentops_target",
                "litellm.logger_built", "litellm.callbacks"):
        assert st[cid] == "fail", (cid, st)
    assert st["litellm.liveliness"] == "pass" and st["agentops.auth_token"] == "pass"
