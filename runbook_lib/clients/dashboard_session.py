"""A dashboard session for the AgentOps API: mint a Supabase-style access token, trade it for a cookie.

The dashboard signs users in through Supabase, which hands the browser an access token (HS256 with
the project's JWT secret, ``sub`` = the user's id, ``aud = "authenticated"``). The API's
``POST /auth/session`` takes that token as a form field and answers with a ``session_id`` cookie;
every ``/v4`` and ``/opsboard`` route needs that cookie. :func:`mint_access_token` builds such a
token for a user id, for tests and conformance checks against a sandbox or a self-hosted API you
hold the JWT secret of. The token is a credential: keep it out of logs and reports.
"""

from __future__ import annotations

import time
import uuid
from http.cookies import SimpleCookie
from typing import Any

import httpx

from ..errors import ConfigError, ServiceError
from ..http import make_client, request

__all__ = ["SESSION_COOKIE", "mint_access_token", "open_session", "session_cookie", "sign_in"]

#: Name of the API's session cookie (upstream ``AUTH_COOKIE_NAME`` default).
SESSION_COOKIE = "session_id"
#: The most a session or login answer may carry (a cookie and a short JSON body).
MAX_SESSION_BODY = 64 * 1024


def mint_access_token(jwt_secret: str, user_id: str, lifetime_s: float = 3600.0, *,
                      email: str = "user@example.test", now: float | None = None,
                      **extra_claims: Any) -> str:
    """An HS256 access token shaped like Supabase's for ``user_id``, valid ``lifetime_s`` seconds from ``now``.

    Carries every claim the API requires (``sub iat exp aud email role app_metadata user_metadata
    session_id``); ``extra_claims`` override or add claims. A negative lifetime gives an expired token.
    """
    try:
        import jwt
    except ImportError:  # pragma: no cover (PyJWT comes with the sandbox and test extras)
        raise ConfigError("PyJWT is needed to mint a dashboard access token",
                          hint="pip install pyjwt (or the project's sandbox extra)") from None
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": str(user_id), "iat": issued, "exp": int(issued + lifetime_s), "aud": "authenticated",
        "email": email, "role": "authenticated", "app_metadata": {"provider": "email"},
        "user_metadata": {}, "session_id": str(uuid.uuid4()),
    }
    claims.update(extra_claims)
    return jwt.encode(claims, jwt_secret, algorithm="HS256")


def _post_for_cookie(api_url: str, path: str, *, timeout_s: float, hint: str, **kwargs: Any) -> str:
    """POST ``path`` within one deadline; the ``session_id`` cookie it sets, else a ServiceError (status kept)."""
    with make_client(api_url.rstrip("/"), timeout_s=timeout_s) as client:
        response = request(client, "POST", path, service="AgentOps API", timeout_s=timeout_s,
                           max_body_bytes=MAX_SESSION_BODY, **kwargs)
    cookie = session_cookie(response)
    if response.status_code != 200 or not cookie:
        raise ServiceError(f"POST {path} answered HTTP {response.status_code}"
                           + ("" if response.status_code != 200 else " without a session cookie"),
                           hint=hint, status_code=response.status_code)
    return cookie


def open_session(api_url: str, access_token: str, *, timeout_s: float = 10.0) -> str:
    """``POST /auth/session`` with ``access_token``; returns the ``session_id`` cookie's value.

    Raises :class:`ServiceError` (with the HTTP status) when the API refuses the token or cannot be reached
    within ``timeout_s`` (one deadline for the whole exchange).
    """
    return _post_for_cookie(api_url, "/auth/session", timeout_s=timeout_s,
                            hint="check the JWT secret the token was signed with and that it has not expired",
                            content=f"access_token={access_token}",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})


def sign_in(api_url: str, email: str, password: str, *, timeout_s: float = 10.0) -> str:
    """``POST /auth/login`` with the dashboard user's email and password; returns the ``session_id`` cookie.

    Raises :class:`ServiceError` (with the HTTP status) when the API refuses the login or cannot be reached.
    """
    return _post_for_cookie(api_url, "/auth/login", timeout_s=timeout_s,
                            hint="check the email and the password the reference points at",
                            json={"email": email, "password": password})


def session_cookie(response: httpx.Response) -> str | None:
    """The ``session_id`` value a response sets, read from its ``Set-Cookie`` headers.

    Read by hand because the API scopes the cookie to its domain without the port (``localhost``),
    so a client talking to ``127.0.0.1`` would drop it from its cookie jar.
    """
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if SESSION_COOKIE in jar:
            return jar[SESSION_COOKIE].value
    return None
