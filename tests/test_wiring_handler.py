"""The self-hosted callback module: settings, token refresh, 401 retry, span attributes, start-up failures."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.sdk.trace import SpanProcessor

from runbook_lib.errors import SandboxError
from runbook_lib.wiring import CALLBACK_MODULE_PATH, install_callback_module, render_wiring_snippet
from runbook_lib.wiring import agentops_selfhosted as w

GOOD = {"AGENTOPS_API_KEY": "6f1b2c3d-0000-4000-8000-000000000001",
        "AGENTOPS_API_ENDPOINT": "http://127.0.0.1:9", "AGENTOPS_EXPORTER_ENDPOINT": "http://127.0.0.1:9/v1/traces"}


def jwt(exp: float, project: str = "p1") -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part({'exp': int(exp), 'project_id': project, 'api_key': 'k'})}.sig"


class FakeAgentOps:
    """A token endpoint and a collector in one local server, with scripted answers."""

    def __init__(self, lifetime_s: float = 5.0) -> None:
        self.lifetime_s = lifetime_s
        self.auth_status = 200
        self.collector_answers: list[int] = []  # popped per export; empty -> 200
        self.tokens_issued: list[str] = []
        self.exports: list[str | None] = []  # Authorization header of each export
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/v3/auth/token":
                    if fake.auth_status != 200:
                        return self._send(fake.auth_status, {"error": "Authentication failed"})
                    token = jwt(time.time() + fake.lifetime_s) + str(len(fake.tokens_issued))
                    fake.tokens_issued.append(token)
                    return self._send(200, {"token": token, "project_id": "p1"})
                fake.exports.append(self.headers.get("Authorization"))
                self._send(fake.collector_answers.pop(0) if fake.collector_answers else 200, {})

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # a short poll interval: shutdown() waits up to one interval (0.5 s by default) per test
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    server = FakeAgentOps()
    yield server
    server.close()


# --- settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["api.agentops.ai", "otlp.agentops.cloud", "OTLP.AgentOps.AI.", "x.agentops.cloud"])
def test_agentops_cloud_hosts_are_refused(host):
    for name in ("AGENTOPS_API_ENDPOINT", "AGENTOPS_EXPORTER_ENDPOINT"):
        env = {**GOOD, name: f"https://{host}/v1/traces"}
        with pytest.raises(w.WiringError, match="cloud host"):
            w.Settings.from_env(env)


def test_lookalike_hosts_are_not_mistaken_for_the_cloud():
    settings = w.Settings.from_env({**GOOD, "AGENTOPS_API_ENDPOINT": "http://my-agentops.ai.internal:8000"})
    assert settings.auth_url == "http://my-agentops.ai.internal:8000/v3/auth/token"


@pytest.mark.parametrize("missing", ["AGENTOPS_API_KEY", "AGENTOPS_API_ENDPOINT", "AGENTOPS_EXPORTER_ENDPOINT"])
def test_missing_settings_fail_loudly_naming_the_variable(missing):
    env = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(w.WiringError, match=missing):
        w.Settings.from_env(env)


def test_a_bare_collector_url_gets_the_traces_path():
    settings = w.Settings.from_env({**GOOD, "AGENTOPS_EXPORTER_ENDPOINT": "http://collector:4318"})
    assert settings.exporter_endpoint == "http://collector:4318/v1/traces"


def test_the_module_is_self_contained_and_loads_from_a_copy(tmp_path, monkeypatch):
    source = CALLBACK_MODULE_PATH.read_text()
    assert not re.search(r"^\s*(from|import)\s+runbook_lib", source, re.MULTILINE)
    copied = install_callback_module(tmp_path)
    spec = importlib.util.spec_from_file_location("agentops_selfhosted", copied)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in GOOD:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(module.WiringError, match="AGENTOPS_API_KEY"):
        module.handler  # noqa: B018 - building the handler reads the environment
    assert "agentops_selfhosted" not in sys.modules or sys.modules["agentops_selfhosted"] is not module


def test_the_wiring_snippet_names_variables_not_values():
    text = render_wiring_snippet("http://api:8000", "http://collector:4318/v1/traces")
    assert 'callbacks: ["agentops_selfhosted.handler"]' in text and "litellm_settings:" in text
    assert "AGENTOPS_API_KEY=${AGENTOPS_API_KEY}" in text


# --- tokens -----------------------------------------------------------------------------------------


def test_tokens_are_refreshed_shortly_before_they_expire(fake):
    now = [time.time()]
    tokens = w.TokenSource(fake.url + "/v3/auth/token", "key", clock=lambda: now[0])
    first = tokens.bearer()
    exp = tokens.claims["exp"]  # about 5 s away; the margin is a fifth of the lifetime (~1 s)
    now[0] = exp - 1.5
    assert tokens.bearer() == first and tokens.fetch_count == 1
    now[0] = exp - 0.4
    assert tokens.bearer() != first and tokens.fetch_count == 2
    assert "api_key" not in tokens.claims and tokens.claims["project_id"] == "p1"


def test_an_export_after_expiry_carries_a_new_token_without_a_401(fake):
    now = [time.time()]
    tokens = w.TokenSource(fake.url + "/v3/auth/token", "key", clock=lambda: now[0])
    session = w.AuthorizingSession(tokens)
    assert session.post(fake.url + "/v1/traces", data=b"x").status_code == 200
    now[0] = tokens.claims["exp"] + 1  # the token's life is over on the handler's clock; no sleep
    assert session.post(fake.url + "/v1/traces", data=b"x").status_code == 200
    assert fake.exports == [f"Bearer {fake.tokens_issued[0]}", f"Bearer {fake.tokens_issued[1]}"]
    assert session.reauth_count == 0 and session.state.delivered == 2


def test_a_401_fetches_a_new_token_and_retries_once(fake):
    session = w.AuthorizingSession(w.TokenSource(fake.url + "/v3/auth/token", "key"))
    fake.collector_answers = [401]
    response = session.post(fake.url + "/v1/traces", data=b"x")
    assert response.status_code == 200
    assert len(fake.exports) == 2 and fake.exports[0] != fake.exports[1]
    assert session.reauth_count == 1 and session.state.delivered == 1


def test_a_collector_that_keeps_refusing_is_recorded_as_rejected(fake):
    session = w.AuthorizingSession(w.TokenSource(fake.url + "/v3/auth/token", "key"))
    fake.collector_answers = [401, 401]
    assert session.post(fake.url + "/v1/traces", data=b"x").status_code == 401
    assert len(fake.exports) == 2  # one retry, not a loop
    assert session.state.last_problem.startswith("rejected_401")


def test_nothing_is_sent_without_a_token(fake):
    fake.auth_status = 500
    session = w.AuthorizingSession(w.TokenSource(fake.url + "/v3/auth/token", "key"))
    with pytest.raises(w.AuthUnavailable, match="500"):
        session.post(fake.url + "/v1/traces", data=b"x")
    assert fake.exports == []
    assert session.state.last_problem.startswith("no_token")


def test_the_handler_exports_spans_with_both_token_names_and_error_status(fake):
    env = {**GOOD, "AGENTOPS_API_ENDPOINT": fake.url, "AGENTOPS_EXPORTER_ENDPOINT": fake.url + "/v1/traces"}
    handler = w.AgentOpsSelfHosted.from_env(env, fetch_token_now=False)
    captured = []
    handler.provider.add_span_processor(_Capture(captured))
    payload = {"id": "c1", "litellm_call_id": "c1", "call_type": "acompletion", "model": "openai/m",
               "model_group": "m", "custom_llm_provider": "openai", "prompt_tokens": 10, "completion_tokens": 20,
               "total_tokens": 30, "response_cost": 5e-5, "request_tags": ["t1"], "status": "success"}
    handler._record({"standard_logging_object": payload}, {"id": "chatcmpl-1", "model": "m"}, None, None,
                    failed=False)
    failed = {**payload, "id": "c2", "litellm_call_id": "c2", "status": "failure", "error_str": "rate limited",
              "error_information": {"error_class": "RateLimitError", "error_code": "429"}}
    handler._record({"standard_logging_object": failed, "exception": RuntimeError("rate limited")}, None, None,
                    None, failed=True)
    handler._record({"standard_logging_object": failed}, None, None, None, failed=True)  # duplicate: ignored
    assert handler.force_flush()
    assert len(captured) == 2 and len(fake.exports) >= 1
    ok, err = captured
    for name in ("gen_ai.usage.prompt_tokens", "gen_ai.usage.input_tokens", "gen_ai.usage.completion_tokens",
                 "gen_ai.usage.output_tokens"):
        assert ok.attributes[name] > 0
    assert ok.attributes["gen_ai.usage.total_cost"] == pytest.approx(5e-5)
    assert ok.attributes["gen_ai.response.id"] == "chatcmpl-1"
    assert json.loads(ok.attributes["agentops.tags"]) == ["t1"]
    assert ok.status.status_code.name == "OK" and err.status.status_code.name == "ERROR"
    assert err.attributes["error.type"] == "RateLimitError"
    assert ok.resource.attributes["service.name"] == "litellm-proxy"
    status = json.loads(repr(handler).split(" ", 1)[1])
    assert status["delivered"] >= 1 and GOOD["AGENTOPS_API_KEY"] not in repr(handler)
    handler.shutdown()


def test_cost_is_left_out_when_litellm_could_not_price_the_call():
    attrs = w.span_attributes({"prompt_tokens": 1, "completion_tokens": 2, "response_cost": 0.0,
                               "response_cost_failure_debug_info": {"error_message": "no price"}})
    assert "gen_ai.usage.total_cost" not in attrs and attrs["gen_ai.usage.total_tokens"] == 3


class _Capture(SpanProcessor):
    def __init__(self, sink: list) -> None:
        self.sink = sink

    def on_start(self, span, parent_context=None) -> None:
        pass

    def on_end(self, span) -> None:
        self.sink.append(span)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


# --- the real proxy ---------------------------------------------------------------------------------


@pytest.mark.sandbox
@pytest.mark.slow  # starts the real LiteLLM proxy
def test_the_proxy_refuses_to_start_without_an_api_key(tmp_path, egress_trap):
    from runbook_lib.sandbox.litellm_proxy import start_proxy

    with pytest.raises(SandboxError) as info:
        start_proxy(tmp_path, master_key="sk-test-startup-0001", wiring="selfhosted",
                    agentops_env={"AGENTOPS_API_ENDPOINT": "http://127.0.0.1:9",
                                  "AGENTOPS_EXPORTER_ENDPOINT": "http://127.0.0.1:9/v1/traces",
                                  "AGENTOPS_API_KEY": ""},
                    egress_proxy_url=egress_trap.url, deadline_s=120)
    assert "exited" in info.value.message
    assert "AGENTOPS_API_KEY is not set" in (tmp_path / "litellm.log").read_text()
