"""Dashboard sessions: ``POST /auth/session`` and the cookie check every ``/v4`` and ``/opsboard`` route makes.

As upstream (``agentops/auth``):

- ``POST /auth/session`` takes the form-encoded body of the sign-in callback; its ``access_token``
  is a Supabase access token (HS256 with ``JWT_SECRET_KEY``, ``aud = "authenticated"``, 10 s leeway,
  claims ``sub iat exp aud email role app_metadata user_metadata session_id`` required). No token:
  401 ``Invalid parameters passed to callback URL.``; a token that does not decode: 401 ``Failed to
  decode access token``; a ``sub`` that is not a UUID: 500. The user is *not* looked up: an unknown
  user gets a session and then sees no projects. The answer is ``{"success": true, "message": "User
  authenticated successfully."}`` with cookie ``session_id`` = an HS256 JWT ``{"session_id": …}``
  signed with the cookie secret (``HttpOnly; Max-Age=2592000; Path=/; SameSite=lax``, ``Domain`` =
  the API domain without its port);
- sessions live 7 days in memory and every authenticated request extends them;
- a protected route without the cookie answers 401 ``User is not authenticated.``, with a cookie that
  does not decode ``Could not decode internal session JWT.``, with an unknown or expired session
  ``User's session has expired.``.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from .settings import ApiSettings

__all__ = ["COOKIE_NAME", "Session", "SessionStore", "session_router"]

COOKIE_NAME = "session_id"
_SUPABASE_CLAIMS: dict[str, type | tuple[type, ...]] = {
    "sub": str, "iat": int, "exp": int, "aud": str, "email": str, "role": str,
    "app_metadata": dict, "user_metadata": dict, "session_id": str,
}


@dataclass(frozen=True)
class Session:
    session_id: uuid.UUID
    user_id: uuid.UUID


class SessionStore:
    """In-memory sessions with a sliding expiry, and the cookie that names one."""

    def __init__(self, settings: ApiSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str, float]] = {}

    # --- Supabase access token -> session -------------------------------------------------------

    def decode_access_token(self, token: str) -> dict[str, Any]:
        """The claims of a Supabase access token; raises for a bad signature, audience, expiry or shape."""
        claims = jwt.decode(token, self._settings.jwt_secret, algorithms=["HS256"], audience="authenticated",
                            leeway=10)
        for name, kind in _SUPABASE_CLAIMS.items():
            value = claims.get(name)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValueError(f"access token claim {name!r} is missing or not a {kind}")
        return claims

    def create(self, user_id: uuid.UUID) -> Session:
        session = Session(uuid.uuid4(), user_id)
        with self._lock:
            self._sessions[str(session.session_id)] = (str(user_id), time.time() + self._settings.session_lifetime_s)
        return session

    def get(self, session_id: str) -> Session | None:
        with self._lock:
            entry = self._sessions.get(session_id)
            if entry is None:
                return None
            if time.time() > entry[1]:
                del self._sessions[session_id]
                return None
            return Session(uuid.UUID(session_id), uuid.UUID(entry[0]))

    def extend(self, session: Session) -> None:
        with self._lock:
            key = str(session.session_id)
            if key in self._sessions:
                self._sessions[key] = (self._sessions[key][0], time.time() + self._settings.session_lifetime_s)

    # --- cookie ------------------------------------------------------------------------------------

    def cookie_value(self, session: Session) -> str:
        return jwt.encode({"session_id": str(session.session_id)}, self._settings.cookie_secret, algorithm="HS256")

    def set_cookie(self, response: JSONResponse, session: Session) -> None:
        response.set_cookie(key=COOKIE_NAME, value=self.cookie_value(session), httponly=True,
                            secure=self._settings.secure_cookie, domain=self._settings.cookie_domain,
                            max_age=self._settings.cookie_max_age_s,
                            samesite="strict" if self._settings.secure_cookie else "lax", path="/")

    def require(self, request: Request) -> Session:
        """The request's session (extended), or 401 with upstream's reason."""
        cookie = request.cookies.get(COOKIE_NAME)
        if not cookie:
            raise HTTPException(status_code=401, detail="User is not authenticated.")
        try:
            data = jwt.decode(cookie, self._settings.cookie_secret, algorithms=["HS256"])
            session = self.get(str(data["session_id"]))
        except (KeyError, jwt.InvalidTokenError):
            raise HTTPException(status_code=401, detail="Could not decode internal session JWT.") from None
        if session is None:
            raise HTTPException(status_code=401, detail="User's session has expired.")
        self.extend(session)
        return session


def session_router(sessions: SessionStore) -> APIRouter:
    """``POST /auth/session``."""
    router = APIRouter()

    @router.post("/auth/session")
    async def auth_session(request: Request) -> Any:
        say = print  # upstream prints these lines to stdout, user id and email included
        say("auth_session: Processing request", flush=True)
        body = await request.body()
        say(f"auth_session: Raw body length: {len(body)}", flush=True)
        params = urllib.parse.parse_qs(body.decode("utf-8"))
        say(f"auth_session: Parsed params keys: {list(params.keys())}", flush=True)
        access_token = params.get("access_token", [None])[0]
        if not access_token:
            say("auth_session: ERROR - No access_token in request body", flush=True)
            raise HTTPException(status_code=401, detail="Invalid parameters passed to callback URL.")
        say("auth_session: Found access_token, attempting to decode JWT", flush=True)
        try:
            claims = sessions.decode_access_token(access_token)
            say(f"auth_session: Decoded JWT for user {claims['sub']} with email {claims['email']}", flush=True)
        except Exception as exc:
            say(f"auth_session: ERROR - Failed to decode JWT: {exc}", flush=True)
            raise HTTPException(status_code=401, detail="Failed to decode access token") from None
        response = JSONResponse({"success": True, "message": "User authenticated successfully."})
        say("auth_session: Creating session and setting cookie", flush=True)
        session = sessions.create(uuid.UUID(claims["sub"]))  # not a UUID: unhandled, 500 as upstream
        sessions.set_cookie(response, session)
        say("auth_session: Session created successfully, returning response", flush=True)
        return response

    return router
