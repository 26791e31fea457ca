"""A dashboard session by email and password (``POST /auth/login``), and the notebooks' way to one.

Upstream's ``/auth/login`` signs in through Supabase's auth server, which this machine does not run, so a
small local server stands in for it here: it answers as upstream does (200 with a ``session_id`` cookie
scoped to ``Domain=localhost``, 401 for a wrong password). Hostile servers check the deadline and the body
limit; planted passwords and cookies must not reach any message.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from runbook_lib.errors import ServiceError
from runbook_lib.secrets import redact
from runbook_lib.traces.dashboard_views import DashboardLogin, open_dashboard_session

EMAIL = "operator@example.test"


@pytest.fixture
def login_server(monkeypatch) -> Iterator[tuple[str, str, str]]:
    """(url, password env reference, the cookie it hands out)."""
    password = "pw-" + secrets.token_urlsafe(16)
    cookie = "sess-" + secrets.token_urlsafe(24)
    monkeypatch.setenv("LOGIN_TEST_PASSWORD", password)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            ok = self.path == "/auth/login" and body == {"email": EMAIL, "password": password}
            self.send_response(200 if ok else 401)
            if ok:
                self.send_header("Set-Cookie", f"session_id={cookie}; Domain=localhost; HttpOnly; Path=/")
            payload = json.dumps({"success": ok}).encode()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", "env:LOGIN_TEST_PASSWORD", cookie
    server.shutdown()
    server.server_close()


def test_login_gives_the_cookie_and_registers_it_for_redaction(login_server):
    url, password, cookie = login_server
    session = open_dashboard_session(url, email=EMAIL, password=password)
    assert session.cookie == cookie
    assert cookie not in repr(session)
    assert cookie not in redact(f"cookie {cookie} in a log line")


def test_a_wrong_password_is_refused_without_echoing_it(login_server, monkeypatch):
    url, _, cookie = login_server
    planted = "planted-wrong-password-" + secrets.token_hex(8)
    monkeypatch.setenv("LOGIN_TEST_WRONG", planted)
    with pytest.raises(ServiceError) as err:
        open_dashboard_session(url, email=EMAIL, password="env:LOGIN_TEST_WRONG")
    assert err.value.status_code == 401
    text = str(err.value) + repr(err.value) + str(err.value.hint)
    assert planted not in text and "password" in (err.value.hint or "")


def test_the_notebooks_login_opens_only_with_a_complete_way_in(login_server):
    url, password, cookie = login_server
    assert DashboardLogin(email=EMAIL).open(url) is None  # no password: no session, no request
    assert DashboardLogin(email=EMAIL, password=password).open(None) is None  # no API URL
    assert DashboardLogin(jwt_secret="env:X").open(url) is None  # a secret without a user id
    session = DashboardLogin(email=EMAIL, password=password).open(url)
    assert session is not None and session.cookie == cookie


def test_a_slow_login_server_is_cut_at_the_deadline(drip_server, login_server):
    _, password, _ = login_server
    url = drip_server("headers", interval_s=0.5)
    started = time.monotonic()
    with pytest.raises(ServiceError) as err:
        open_dashboard_session(url, email=EMAIL, password=password, timeout_s=1.0)
    assert time.monotonic() - started < 1.0 + 4.0  # the one deadline, with slack for a loaded machine
    assert "1" in str(err.value)


def test_a_flooding_login_server_is_cut_at_the_body_limit(flood_server, login_server):
    _, password, _ = login_server
    with pytest.raises(ServiceError) as err:
        open_dashboard_session(flood_server, email=EMAIL, password=password, timeout_s=30.0)
    assert "limit" in str(err.value).lower() or "bytes" in str(err.value).lower()
