"""HS256 tokens shaped like the self-hosted AgentOps API's (``app/api/agentops/api/auth.py``).

Claims, in upstream order: ``exp`` (now + lifetime, 30 days by default), ``aud="authenticated"``,
``project_id``, ``project_prem_status``, ``api_key`` (the plaintext project key) and ``dev`` only when
true. No ``iat``, ``sub`` or ``iss``. Tokens embed the project API key: treat them as secrets.

Two verifiers, because the two real services check differently:

- :func:`verify_api_token` is the API's check: signature, ``exp`` and ``aud == "authenticated"``;
- :func:`verify_collector_token` is the collector's ``jwtauthextension`` check (golang-jwt v5):
  an HMAC signature and ``exp`` (plus ``nbf``/``iat`` when present), the audience is *not* checked.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

__all__ = [
    "ALGORITHM",
    "AUDIENCE",
    "DEFAULT_LIFETIME_S",
    "InvalidTokenError",
    "ExpiredSignatureError",
    "InvalidAudienceError",
    "issue_token",
    "verify_api_token",
    "verify_collector_token",
]

ALGORITHM = "HS256"
AUDIENCE = "authenticated"
DEFAULT_LIFETIME_S = 30 * 24 * 3600

InvalidTokenError = jwt.InvalidTokenError
ExpiredSignatureError = jwt.ExpiredSignatureError
InvalidAudienceError = jwt.InvalidAudienceError


def issue_token(
    secret: str,
    *,
    project_id: str,
    project_prem_status: str,
    api_key: str,
    lifetime_s: float = DEFAULT_LIFETIME_S,
    dev: bool = False,
    now: float | None = None,
) -> str:
    """Sign a project token; ``exp`` is an integer epoch ``lifetime_s`` from ``now``."""
    claims: dict[str, Any] = {
        "exp": int((time.time() if now is None else now) + lifetime_s),
        "aud": AUDIENCE,
        "project_id": str(project_id),
        "project_prem_status": str(project_prem_status),
        "api_key": str(api_key),
    }
    if dev:
        claims["dev"] = True
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_api_token(token: str, secret: str) -> dict[str, Any]:
    """The API's check: HS256 signature, ``exp`` and audience. Raises a PyJWT ``InvalidTokenError``."""
    return jwt.decode(token, secret, algorithms=[ALGORITHM], audience=AUDIENCE)


def verify_collector_token(token: str, secret: str) -> dict[str, Any]:
    """The collector's check: HMAC signature and ``exp``; ``aud`` is ignored. Raises ``InvalidTokenError``."""
    return jwt.decode(
        token,
        secret,
        algorithms=["HS256", "HS384", "HS512"],
        options={"verify_aud": False, "verify_exp": True, "verify_nbf": True, "verify_iat": True},
    )
