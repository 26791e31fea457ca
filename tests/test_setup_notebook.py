"""00_setup end to end through the runner, against local fake services and config fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runbook_lib.runner import run_notebooks

ROOT = Path(__file__).resolve().parents[1]
FIELD_GUIDE = ROOT / "examples" / "litellm_config.field_guide.yaml"
SELFHOSTED = ROOT / "examples" / "litellm_config.selfhosted.yaml"
HANDLER = ROOT / "runbook_lib" / "wiring" / "agentops_selfhosted.py"


def statuses(nb) -> dict[str, str]:
    return {c["id"]: c["status"] for c in nb.checks}


def artifacts_text(run_dir: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in run_dir.rglob("*") if p.is_file())


def live_params(secrets, litellm, agentops, dashboard, collector, **extra):
    return {"litellm_url": litellm.url, "litellm_master_key": secrets["master_ref"],
            "agentops_api_url": agentops.url, "agentops_api_key": secrets["api_key_ref"],
            "agentops_app_url": dashboard.url, "otlp_endpoint": collector.url, "timeout_s": 5, **extra}


def test_wired_deployment_passes(tmp_path, monkeypatch, service_secrets, fake_litellm, fake_agentops,
                                 fake_dashboard, fake_collector):
    config = tmp_path / "config.yaml"
    shutil.copy(SELFHOSTED, config)
    shutil.copy(HANDLER, tmp_path / HANDLER.name)
    monkeypatch.setenv("LITELLM_MASTER_KEY", service_secrets["master_key"])  # the config's os.environ/ ref
    record = run_notebooks(["00_setup"], live_params(service_secrets, fake_litellm, fake_agentops, fake_dashboard,
                                                     fake_collector, litellm_config_path=str(config)),
                           out_dir=tmp_path / "reports")
    nb = record.notebooks[0]
    st = statuses(nb)
    assert record.verdict == "passed" and record.exit_code == 0, st
    assert {s for s in st.values()} <= {"pass", "skip"}
    for cid in ("config.callbacks.placement", "litellm.logger_built", "litellm.config_drift",
                "agentops.auth_token", "collector.auth", "agentops.dashboard"):
        assert st[cid] == "pass", cid
    assert len(st) == len(nb.checks)  # every check recorded once
    text = artifacts_text(record.run_dir)
    assert service_secrets["master_key"] not in text and service_secrets["api_key"] not in text
    assert "eyJ" not in text  # no JWT in any artifact
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["agentops_selfhosted.py", "config.yaml"]


def test_field_guide_deployment_fails_with_the_right_checks(tmp_path, service_secrets, fake_litellm, fake_agentops,
                                                            fake_dashboard, fake_collector):
    # the field guide's proxy: callback under general_settings, so no logger was ever built
    fake_litellm.loggers = []
    fake_litellm.callbacks = {"success": [], "failure": [], "success_and_failure": []}
    config = tmp_path / "config.yaml"
    shutil.copy(FIELD_GUIDE, config)
    before = config.read_bytes()
    record = run_notebooks(["00_setup"], live_params(service_secrets, fake_litellm, fake_agentops, fake_dashboard,
                                                     fake_collector, litellm_config_path=str(config), apply=True),
                           out_dir=tmp_path / "reports")
    st = statuses(record.notebooks[0])
    assert record.verdict == "failed" and record.exit_code == 1
    assert record.notebooks[0].status == "failed"
    for cid in ("config.callbacks.placement", "config.agentops_keys", "config.callbacks.agentops_target",
                "litellm.logger_built", "litellm.callbacks"):
        assert st[cid] == "fail", cid
    assert st["config.master_key"] == "warn"
    assert st["agentops.auth_token"] == "pass" and st["config.corrected"] == "pass"
    # apply wrote the corrected copy next to the original and left the original alone
    assert config.read_bytes() == before
    assert (tmp_path / "config.corrected.yaml").is_file()
    text = artifacts_text(record.run_dir)
    assert "sk-1234" not in text and "[REDACTED]" in text  # the literal master key of the diff
    assert service_secrets["api_key"] not in text and "eyJ" not in text


def test_unreachable_services_fail_clearly(tmp_path, service_secrets, closed_port_url, hanging_url):
    record = run_notebooks(["00_setup"], {
        "litellm_url": closed_port_url, "litellm_master_key": service_secrets["master_ref"],
        "agentops_api_url": hanging_url, "agentops_api_key": service_secrets["api_key_ref"],
        "otlp_endpoint": closed_port_url, "timeout_s": 0.5}, out_dir=tmp_path / "reports")
    nb = record.notebooks[0]
    assert nb.status == "failed" and record.exit_code == 1  # checks failed; the notebook itself ran fine
    by_id = {c["id"]: c for c in nb.checks}
    assert by_id["litellm.liveliness"]["status"] == "fail"
    assert "connection refused" in by_id["litellm.liveliness"]["summary"]
    assert by_id["agentops.health"]["status"] == "fail"
    assert "did not answer within 0.5 s" in by_id["agentops.health"]["summary"]
    assert by_id["collector.reachable"]["status"] == "fail"
    assert by_id["config.parse"]["status"] == "skip" and by_id["agentops.dashboard"]["status"] == "skip"


def test_malformed_config_reports_line_and_column(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("litellm_settings:\n  callbacks: [agentops\n general_settings: {}\n", encoding="utf-8")
    record = run_notebooks(["00_setup"], {"litellm_config_path": str(config), "apply": True},
                           out_dir=tmp_path / "reports")
    nb = record.notebooks[0]
    assert nb.status == "failed"
    parse = next(c for c in nb.checks if c["id"] == "config.parse")
    assert parse["status"] == "fail" and "line 3" in parse["summary"] and parse["evidence"]["column"]
    assert not (tmp_path / "config.corrected.yaml").exists()


@pytest.mark.parametrize("value", ["sk-literal-master-key-123", "not a url"])
def test_bad_parameters_are_refused_before_running(tmp_path, value):
    from runbook_lib.errors import ParameterError

    name = "litellm_master_key" if value.startswith("sk-") else "litellm_url"
    with pytest.raises(ParameterError) as err:
        run_notebooks(["00_setup"], {name: value}, out_dir=tmp_path / "reports")
    assert value not in str(err.value) or name == "litellm_url"
