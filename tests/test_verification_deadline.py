"""20_callback_verification ends within deadline_s (plus slack) whatever the proxy and the store do.

Hostile servers on 127.0.0.1 (tests/plugins/attackers.py): a proxy that accepts and never answers, and
a proxy that answers every preflight question but hangs on the completions it is sent. Elapsed time
is measured against ``deadline_s`` with slack for a loaded machine (not a benchmark).
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from runbook_lib.verification.runbook import VerificationRunbook
from tests.plugins.attackers import AttackServer, read_request

SLACK_S = 6.0


@pytest.fixture
def master_key_ref(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("H9_DEADLINE_MASTER_KEY", "sk-" + secrets.token_hex(16))
    return "env:H9_DEADLINE_MASTER_KEY"


def _answer(conn: socket.socket, payload: object) -> None:
    body = json.dumps(payload).encode()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


@pytest.fixture
def half_alive_proxy() -> Iterator[tuple[str, str, list[str]]]:
    """A 'proxy' that passes the preflight's questions and hangs on every POST; yields (url, model, posts)."""
    model = f"m-{secrets.token_hex(3)}"
    posts: list[str] = []
    answers = {
        "/health/liveliness": "I'm alive!",
        "/health/readiness/details": {"success_callbacks": [], "litellm_version": "1.0"},
        "/callbacks/list": {"success": [], "failure": [], "success_and_failure": []},
        "/v1/models": {"data": [{"id": model}]},
        "/v1/model/info": {"data": []},
    }

    def handler(conn: socket.socket, stopping: threading.Event) -> None:
        head = read_request(conn)
        if b"\r\n\r\n" not in head:
            return
        method, target = head.split(b" ", 2)[:2]
        path = target.decode().split("?", 1)[0]
        if method == b"GET" and path in answers:
            _answer(conn, answers[path])
            return
        posts.append(path)
        stopping.wait(120)                      # accept the request, never answer it

    server = AttackServer(handler)
    yield server.url, model, posts
    server.stop()


def test_a_silent_proxy_and_store_end_within_the_deadline(silent_tcp_url, master_key_ref):
    deadline_s = 2.0 + secrets.randbelow(20) / 10
    rb = VerificationRunbook(litellm_url=silent_tcp_url, litellm_master_key=master_key_ref, agentops_api_url=None,
                             trace_store_url=silent_tcp_url, deadline_s=deadline_s)
    started = time.monotonic()
    checks = {c.id: c for c in rb.run_all()}
    elapsed = time.monotonic() - started
    assert elapsed <= deadline_s + SLACK_S, elapsed
    assert checks["proxy.reachable"].status.value == "fail"
    assert checks["trace_store.reachable"].status.value in ("skip", "fail")
    assert checks["roundtrip.requests"].status.value == "skip"      # nothing sent to a proxy proved unreachable


def test_a_proxy_that_hangs_on_completions_is_sent_one_request_and_the_run_ends_in_time(
        half_alive_proxy, master_key_ref, dump_store):
    url, model, posts = half_alive_proxy
    deadline_s = 3.0 + secrets.randbelow(20) / 10
    rb = VerificationRunbook(litellm_url=url, litellm_master_key=master_key_ref, model=model, agentops_api_url=None,
                             store=dump_store, requests_per_kind=2, deadline_s=deadline_s)
    started = time.monotonic()
    checks = {c.id: c for c in rb.run_all()}
    elapsed = time.monotonic() - started
    assert elapsed <= deadline_s + SLACK_S, elapsed
    assert checks["proxy.reachable"].status.value == "pass" and checks["proxy.model"].status.value == "pass"
    assert posts == ["/chat/completions"]                # the rest were not sent once it stopped answering
    requests = checks["roundtrip.requests"]
    assert requests.status.value == "fail"
    errors = [r["error"] for r in requests.evidence["requests"]]
    assert len(errors) == 6 and all(e.startswith("not sent: the proxy stopped answering") for e in errors[1:])
