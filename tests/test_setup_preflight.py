"""00_setup live checks against local fake services: pass and fail states, bounded failures, no secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from runbook_lib.setup import check_agentops, check_collector, check_dashboard, check_litellm, network_notes
from tests.plugins.http_servers import LocalServer

ROOT = Path(__file__).resolve().parents[1]
SELFHOSTED_DOC = yaml.safe_load((ROOT / "examples" / "litellm_config.selfhosted.yaml").read_text())
FIELD_GUIDE_DOC = yaml.safe_load((ROOT / "examples" / "litellm_config.field_guide.yaml").read_text())


def by_id(checks):
    return {c.id: c for c in checks}


def statuses(checks):
    return {c.id: c.status.value for c in checks}


def text_of(checks) -> str:
    return json.dumps([c.to_dict() for c in checks]) + "".join(
        f"{c.summary}{c.remedy}{json.dumps(c.evidence, default=str)}" for c in checks)


# -- LiteLLM ---------------------------------------------------------------------------------------


def test_litellm_all_pass_for_a_wired_proxy(fake_litellm, service_secrets):
    checks = check_litellm(fake_litellm.url, service_secrets["master_ref"], timeout_s=5, config_doc=SELFHOSTED_DOC)
    assert statuses(checks) == {
        "litellm.liveliness": "pass", "litellm.readiness": "pass", "litellm.logger_built": "pass",
        "litellm.callbacks": "pass", "litellm.config_drift": "pass", "litellm.models": "pass"}
    assert by_id(checks)["litellm.logger_built"].evidence["success_callbacks"] == ["AgentOpsSelfHosted"]


def test_litellm_empty_url_skips_everything():
    checks = check_litellm("", "env:WHATEVER", timeout_s=1)
    assert set(statuses(checks).values()) == {"skip"}
    assert all("litellm_url is empty" in c.summary for c in checks)


def test_litellm_closed_port_fails_liveliness_and_skips_the_rest(closed_port_url, service_secrets):
    checks = check_litellm(closed_port_url, service_secrets["master_ref"], timeout_s=2)
    live = by_id(checks)["litellm.liveliness"]
    assert live.status.value == "fail" and "connection refused" in live.summary
    assert "running" in live.remedy
    assert [c.status.value for c in checks[1:]] == ["skip"] * 5


def test_litellm_hanging_server_fails_within_timeout(hanging_url, service_secrets):
    checks = check_litellm(hanging_url, service_secrets["master_ref"], timeout_s=0.4)
    live = by_id(checks)["litellm.liveliness"]
    assert live.status.value == "fail"
    assert "did not answer within 0.4 s" in live.summary


def test_litellm_unknown_host_explains_docker_names(unresolvable_host, service_secrets):
    checks = check_litellm(f"http://{unresolvable_host}:4000", service_secrets["master_ref"], timeout_s=2)
    live = by_id(checks)["litellm.liveliness"]
    assert live.status.value == "fail" and "does not resolve" in live.summary
    assert "compose" in live.remedy


def test_readiness_not_healthy_is_warned(fake_litellm, service_secrets):
    fake_litellm.readiness_status = "unhealthy"
    check = by_id(check_litellm(fake_litellm.url, service_secrets["master_ref"], timeout_s=5))["litellm.readiness"]
    assert check.status.value == "warn" and "unhealthy" in check.summary


def test_readiness_http_error_fails(fake_litellm, service_secrets):
    fake_litellm.readiness_http_status = 503
    check = by_id(check_litellm(fake_litellm.url, service_secrets["master_ref"], timeout_s=5))["litellm.readiness"]
    assert check.status.value == "fail" and "HTTP 503" in check.summary
    assert fake_litellm.server.paths().count("/health/readiness") == 3  # a GET: retried twice, then reported


def test_logger_not_built_with_field_guide_config_points_at_general_settings(fake_litellm, service_secrets):
    fake_litellm.loggers = ["_PROXY_VirtualKeyModelMaxBudgetLimiter"]
    fake_litellm.callbacks = {"success": [], "failure": [], "success_and_failure": []}
    checks = by_id(check_litellm(fake_litellm.url, service_secrets["master_ref"], timeout_s=5,
                                 config_doc=FIELD_GUIDE_DOC))
    built = checks["litellm.logger_built"]
    assert built.status.value == "fail" and "exports nothing" in built.summary
    assert "general_settings" in built.remedy and "agentops_selfhosted.handler" in built.remedy
    assert checks["litellm.callbacks"].status.value == "fail"
    # the field guide's proxy and its file agree (both have no litellm_settings callback): no drift
    assert checks["litellm.config_drift"].status.value == "pass"


def test_success_only_callback_is_warned(fake_litellm, service_secrets):
    fake_litellm.callbacks = {"success": ["agentops"], "failure": [], "success_and_failure": []}
    check = by_id(check_litellm(fake_litellm.url, service_secrets["master_ref"], timeout_s=5))["litellm.callbacks"]
    assert check.status.value == "warn" and "success only" in check.summary


def test_config_changed_but_proxy_not_restarted(fake_litellm, service_secrets):
    # the file now has the handler; the running proxy still runs the old built-in agentops
    fake_litellm.callbacks = {"success": ["agentops"], "failure": [], "success_and_failure": []}
    fake_litellm.loggers = ["AgentOps"]
    drift = by_id(check_litellm(fake_litellm.url, service_secrets["master_ref"], timeout_s=5,
                                config_doc=SELFHOSTED_DOC))["litellm.config_drift"]
    assert drift.status.value == "fail"
    assert drift.summary.startswith("config changed but proxy not restarted/rebuilt")
    assert drift.evidence["missing_in_proxy"] == ["agentops_selfhosted"]
    assert drift.evidence["not_in_config"] == ["agentops"]
    assert "--no-cache" in drift.remedy


def test_config_drift_skipped_without_config(fake_litellm, service_secrets):
    drift = by_id(check_litellm(fake_litellm.url, service_secrets["master_ref"], timeout_s=5))["litellm.config_drift"]
    assert drift.status.value == "skip"


def test_no_models_fails(fake_litellm, service_secrets):
    fake_litellm.models = []
    check = by_id(check_litellm(fake_litellm.url, service_secrets["master_ref"], timeout_s=5))["litellm.models"]
    assert check.status.value == "fail"


def test_wrong_master_key_fails_protected_checks(fake_litellm, monkeypatch):
    monkeypatch.setenv("RB_TEST_WRONG_MASTER", "sk-not-the-master-key-42")
    checks = check_litellm(fake_litellm.url, "env:RB_TEST_WRONG_MASTER", timeout_s=5, config_doc=SELFHOSTED_DOC)
    st = statuses(checks)
    assert st["litellm.liveliness"] == "pass"
    assert st["litellm.logger_built"] == "fail" and st["litellm.callbacks"] == "fail"
    assert "master key was refused" in by_id(checks)["litellm.logger_built"].summary
    assert "sk-not-the-master-key-42" not in text_of(checks)


def test_unset_master_key_reference_skips_protected_checks(fake_litellm, monkeypatch):
    monkeypatch.delenv("RB_TEST_UNSET_MASTER", raising=False)
    checks = check_litellm(fake_litellm.url, "env:RB_TEST_UNSET_MASTER", timeout_s=5)
    assert [c.status.value for c in checks[2:]] == ["skip"] * 4
    assert "does not resolve" in checks[2].summary


# -- AgentOps API ----------------------------------------------------------------------------------


def test_agentops_all_pass(fake_agentops, service_secrets):
    checks, token = check_agentops(fake_agentops.url, service_secrets["api_key_ref"], timeout_s=5)
    assert statuses(checks) == {"agentops.health": "pass", "agentops.auth_token": "pass", "agentops.plan": "pass",
                                "agentops.token_valid": "pass"}
    auth = by_id(checks)["agentops.auth_token"]
    assert fake_agentops.project_id in auth.summary and "enterprise" in auth.summary
    assert "valid until" in auth.summary and auth.evidence["expires_in_days"] > 29
    assert token is not None and token.project_id == fake_agentops.project_id
    text = text_of(checks)
    assert token.bearer() not in text and service_secrets["api_key"] not in text


@pytest.mark.parametrize(
    ("status", "summary_part", "remedy_part"),
    [(403, "not in the `projects` table", "copy the key"), (500, "HTTP 500", "10_migration")],
)
def test_agentops_token_failures(fake_agentops, service_secrets, status, summary_part, remedy_part):
    fake_agentops.token_status = status
    checks, token = check_agentops(fake_agentops.url, service_secrets["api_key_ref"], timeout_s=5)
    auth = by_id(checks)["agentops.auth_token"]
    assert token is None
    assert auth.status.value == "fail" and summary_part in auth.summary and remedy_part in auth.remedy
    assert statuses(checks)["agentops.plan"] == "skip" and statuses(checks)["agentops.token_valid"] == "skip"
    assert service_secrets["api_key"] not in text_of(checks)


def test_agentops_bad_key_format(fake_agentops, monkeypatch):
    monkeypatch.setenv("RB_TEST_KEY_NOT_UUID", "0c26af2a-not-a-uuid")
    checks, _ = check_agentops(fake_agentops.url, "env:RB_TEST_KEY_NOT_UUID", timeout_s=5)
    assert "bad format" in by_id(checks)["agentops.auth_token"].summary


def test_agentops_free_plan_is_warned(fake_agentops, service_secrets):
    fake_agentops.prem_status = "free"
    checks, _ = check_agentops(fake_agentops.url, service_secrets["api_key_ref"], timeout_s=5)
    plan = by_id(checks)["agentops.plan"]
    assert plan.status.value == "warn" and "prem_status = 'enterprise'" in plan.remedy


def test_agentops_token_rejected_by_its_own_api(fake_agentops, service_secrets):
    fake_agentops.validation_secret = "a-rotated-secret-with-at-least-32-chars!!"
    checks, _ = check_agentops(fake_agentops.url, service_secrets["api_key_ref"], timeout_s=5)
    valid = by_id(checks)["agentops.token_valid"]
    assert valid.status.value == "fail" and valid.evidence["status_code"] == 401


def test_agentops_empty_url_and_missing_key(fake_agentops, monkeypatch):
    checks, _ = check_agentops(None, None, timeout_s=1)
    assert set(statuses(checks).values()) == {"skip"}
    monkeypatch.delenv("RB_TEST_NO_SUCH_KEY", raising=False)
    checks, token = check_agentops(fake_agentops.url, "env:RB_TEST_NO_SUCH_KEY", timeout_s=5)
    assert statuses(checks)["agentops.health"] == "pass" and token is None
    assert statuses(checks)["agentops.auth_token"] == "skip"


@pytest.mark.parametrize("kind", ["closed", "hang", "dns"])
def test_agentops_unreachable_fails_health_clearly(kind, closed_port_url, hanging_url, request, service_secrets):
    if kind == "closed":
        url, expected = closed_port_url, "connection refused"
    elif kind == "hang":
        url, expected = hanging_url, "did not answer within 0.4 s"
    else:
        url, expected = f"http://{request.getfixturevalue('unresolvable_host')}:8000", "does not resolve"
    checks, token = check_agentops(url, service_secrets["api_key_ref"], timeout_s=0.4)
    health = by_id(checks)["agentops.health"]
    assert health.status.value == "fail" and expected in health.summary and health.remedy
    assert token is None and [c.status.value for c in checks[1:]] == ["skip"] * 3


def test_agentops_wrong_port_serving_html(html_server, service_secrets):
    checks, _ = check_agentops(html_server.url, service_secrets["api_key_ref"], timeout_s=5)
    health = by_id(checks)["agentops.health"]
    assert health.status.value == "fail" and "non-JSON" in health.summary


# -- dashboard and collector -----------------------------------------------------------------------


def test_dashboard_states(fake_dashboard, closed_port_url, hanging_url):
    assert check_dashboard(fake_dashboard.url, timeout_s=5).status.value == "pass"  # 307 to /signin
    assert check_dashboard(None).status.value == "skip"
    closed = check_dashboard(closed_port_url, timeout_s=2)
    assert closed.status.value == "fail" and "connection refused" in closed.summary
    hung = check_dashboard(hanging_url, timeout_s=0.3)
    assert hung.status.value == "fail" and "0.3 s" in hung.summary
    for code, status in ((404, "warn"), (500, "fail")):
        server = LocalServer(lambda req, code=code: (code, {"Content-Type": "text/html"}, b"x"))
        try:
            assert check_dashboard(server.url, timeout_s=5).status.value == status
        finally:
            server.stop()


def test_collector_reachable_and_accepts_token(fake_agentops, fake_collector, service_secrets):
    _, token = check_agentops(fake_agentops.url, service_secrets["api_key_ref"], timeout_s=5)
    checks = check_collector(fake_collector.url, token, timeout_s=5)
    assert statuses(checks) == {"collector.reachable": "pass", "collector.auth": "pass"}
    # the unauthenticated probe got 401 and still counts as reachable
    assert "HTTP 401" in by_id(checks)["collector.reachable"].summary
    assert token.bearer() not in text_of(checks)


def test_collector_base_url_gets_v1_traces(fake_collector):
    base = fake_collector.url.removesuffix("/v1/traces")
    checks = check_collector(base, None, timeout_s=5)
    assert statuses(checks) == {"collector.reachable": "pass", "collector.auth": "skip"}
    assert fake_collector.server.paths("POST") == ["/v1/traces"]


def test_collector_with_another_jwt_secret_fails_auth(fake_agentops, fake_collector, service_secrets):
    fake_collector.jwt_secret = "the-collector-has-another-secret-32chars"
    _, token = check_agentops(fake_agentops.url, service_secrets["api_key_ref"], timeout_s=5)
    auth = by_id(check_collector(fake_collector.url, token, timeout_s=5))["collector.auth"]
    assert auth.status.value == "fail" and "JWT_SECRET" in auth.remedy


@pytest.mark.parametrize("kind", ["closed", "hang"])
def test_collector_unreachable(kind, closed_port_url, hanging_url):
    url = closed_port_url if kind == "closed" else hanging_url
    checks = check_collector(url, None, timeout_s=0.4)
    assert statuses(checks) == {"collector.reachable": "fail", "collector.auth": "skip"}


def test_collector_skipped_without_endpoint():
    assert set(statuses(check_collector(None)).values()) == {"skip"}


# -- network notes ---------------------------------------------------------------------------------


def test_network_notes():
    check = network_notes({"litellm_url": "http://localhost:4000", "agentops_api_url": "http://agentops-api:8000",
                           "otlp_endpoint": None, "agentops_app_url": "https://app.example.com"})
    assert check.status.value == "pass"
    assert set(check.evidence["notes"]) == {"litellm_url", "agentops_api_url"}
    assert "host.docker.internal" in check.summary
    plain = network_notes({"agentops_api_url": "https://api.example.com"})
    assert plain.evidence["notes"] == {}


# -- secrets ---------------------------------------------------------------------------------------


def test_no_secret_in_any_check(fake_litellm, fake_agentops, fake_collector, fake_dashboard, service_secrets):
    fake_collector.jwt_secret = "mismatch-mismatch-mismatch-mismatch-32"
    checks = check_litellm(fake_litellm.url, service_secrets["master_ref"], timeout_s=5, config_doc=SELFHOSTED_DOC)
    more, token = check_agentops(fake_agentops.url, service_secrets["api_key_ref"], timeout_s=5)
    checks += more + check_collector(fake_collector.url, token, timeout_s=5)
    checks.append(check_dashboard(fake_dashboard.url, timeout_s=5))
    fake_agentops.token_status = 500
    checks += check_agentops(fake_agentops.url, service_secrets["api_key_ref"], timeout_s=5)[0]
    text = text_of(checks)
    for secret in (service_secrets["master_key"], service_secrets["api_key"], token.bearer(),
                   token.bearer().split(".")[1]):
        assert secret not in text
