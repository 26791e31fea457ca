"""A small client for a self-hosted AgentOps API: health, SDK token auth, public trace reads.

The API key is a :class:`~runbook_lib.secrets.SecretRef`, resolved per request. Tokens (JWTs)
embed the plaintext project key, so :class:`TokenInfo` never shows its token in ``repr``/``str``
and every token is registered with :func:`~runbook_lib.secrets.redact`.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from ..commands import repair_schema_command
from ..errors import ServiceError
from ..http import body_snippet, display_url, make_client, raise_for_status, read_json, request
from ..secrets import SecretRef, remember_secret

__all__ = ["AgentOpsClient", "TokenInfo", "collector_status_error", "decode_jwt_claims"]

SERVICE = "AgentOps API"
#: Claims that are safe to show (the token also carries ``api_key``, the plaintext project key).
PUBLIC_CLAIMS = ("project_id", "project_prem_status", "aud", "exp", "dev")


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """Decode a JWT's payload WITHOUT verifying its signature (base64url + JSON only).

    Raises ServiceError (without the token) when it is not a JWT.
    """
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise ServiceError("the token is not a JWT (expected three dot-separated parts)",
                           hint="check the service that issued it")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise ServiceError("the token's payload is not base64url-encoded JSON",
                           hint="check the service that issued it") from None
    if not isinstance(claims, dict):
        raise ServiceError("the token's payload is not a JSON object", hint="check the service that issued it")
    if isinstance(claims.get("api_key"), str):
        remember_secret(claims["api_key"])
    return claims


class TokenInfo:
    """An AgentOps SDK token and what its claims say. The token itself is only given out by
    :meth:`bearer` (for an ``Authorization`` header); ``repr``/``str``/:meth:`to_dict` omit it."""

    __slots__ = ("project_id", "prem_status", "expires_at", "claims", "_token")

    def __init__(self, token: str, *, project_id: str | None = None, prem_status: str | None = None) -> None:
        remember_secret(token)
        all_claims = decode_jwt_claims(token)
        self._token = token
        self.claims: dict[str, Any] = {k: all_claims[k] for k in PUBLIC_CLAIMS if k in all_claims}
        self.project_id: str | None = project_id or all_claims.get("project_id")
        self.prem_status: str | None = prem_status or all_claims.get("project_prem_status")
        exp = all_claims.get("exp")
        self.expires_at: datetime | None = (
            datetime.fromtimestamp(exp, tz=timezone.utc) if isinstance(exp, (int, float)) else None
        )

    def bearer(self) -> str:
        """The raw token, for an Authorization header. Never print or store it."""
        return self._token

    def expires_in(self, now: datetime | None = None) -> timedelta | None:
        if self.expires_at is None:
            return None
        return self.expires_at - (now or datetime.now(timezone.utc))

    def expired(self, margin_s: float = 0.0, now: datetime | None = None) -> bool:
        left = self.expires_in(now)
        return left is not None and left.total_seconds() <= margin_s

    def to_dict(self) -> dict[str, Any]:
        """Shareable facts: project, plan, expiry. No token, no API key."""
        left = self.expires_in()
        return {
            "project_id": self.project_id,
            "prem_status": self.prem_status,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "expires_in_days": round(left.total_seconds() / 86400, 2) if left is not None else None,
            "audience": self.claims.get("aud"),
        }

    def __repr__(self) -> str:
        exp = self.expires_at.isoformat() if self.expires_at else None
        return (
            f"TokenInfo(project_id={self.project_id!r}, prem_status={self.prem_status!r}, "
            f"expires_at={exp!r}, token=<redacted>)"
        )

    __str__ = __repr__

    def __reduce__(self) -> Any:  # pickling would carry the token out of the process
        raise TypeError("TokenInfo holds a secret and cannot be pickled")


def collector_status_error(status_code: int, url: str) -> ServiceError | None:
    """Explain an OTLP collector's answer to an authenticated export; None when it is accepted."""
    shown = display_url(url)
    if 200 <= status_code < 300:
        return None
    if status_code == 401:
        return ServiceError(
            f"the collector at {shown} refused the AgentOps token (HTTP 401)",
            hint=(
                "the collector's JWT_SECRET differs from the API's JWT_SECRET_KEY (they must be the same"
                " secret, also Supabase's), or the token expired (30 days): align the secrets and restart"
                " the collector, then re-issue the token"
            ),
            status_code=401,
        )
    if status_code in (404, 405):
        return ServiceError(
            f"the collector at {shown} has no OTLP/HTTP traces receiver here (HTTP {status_code})",
            hint="use the OTLP/HTTP endpoint http://<collector>:4318/v1/traces",
            status_code=status_code,
        )
    return ServiceError(
        f"the collector at {shown} answered HTTP {status_code}",
        hint="check the collector log (exporter to ClickHouse, memory limiter)",
        status_code=status_code,
    )


class AgentOpsClient:
    """Talks to one AgentOps API. Every call is bounded by ``timeout_s``; tokens are cached and
    re-issued when they are within ``refresh_margin_s`` of expiry. ``transport`` replaces the network
    (see :func:`~runbook_lib.http.make_client`)."""

    def __init__(
        self,
        api_url: str,
        api_key: SecretRef | str | None = None,
        timeout_s: float = 10.0,
        *,
        refresh_margin_s: float = 3600.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.api_key = SecretRef.parse(api_key, name="agentops_api_key") if api_key else None
        self.timeout_s = float(timeout_s)
        self.refresh_margin_s = refresh_margin_s
        self._client = make_client(self.api_url, timeout_s=self.timeout_s, transport=transport)
        self._token: TokenInfo | None = None

    def __repr__(self) -> str:
        key = str(self.api_key) if self.api_key else "none"
        return f"AgentOpsClient({display_url(self.api_url)!r}, api_key={key!r}, timeout_s={self.timeout_s})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> AgentOpsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- endpoints --------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """GET /health: ``{"message": "Server Up"}``. Liveness only: it touches no database."""
        response = request(self._client, "GET", "/health", service=SERVICE)
        raise_for_status(response, service=SERVICE)
        return read_json(response, service=SERVICE, shape=dict)

    def issue_token(self) -> TokenInfo:
        """POST /v3/auth/token with the API key; returns (and caches) the token's facts."""
        if self.api_key is None:
            raise ServiceError("no AgentOps API key given", hint="pass agentops_api_key as env:NAME or file:PATH")
        response = request(
            self._client, "POST", "/v3/auth/token", service=SERVICE, json={"api_key": self.api_key.resolve()}
        )
        raise_for_status(response, service=SERVICE, explain=_explain_auth)
        data = read_json(response, service=SERVICE)
        if not isinstance(data, dict) or not isinstance(data.get("token"), str):
            raise ServiceError(
                f"{SERVICE} at {display_url(self.api_url)} answered /v3/auth/token without a token",
                hint="check agentops_api_url points at the AgentOps API (not the dashboard)",
            )
        self._token = TokenInfo(
            data["token"], project_id=data.get("project_id"), prem_status=data.get("project_prem_status")
        )
        return self._token

    def token(self) -> TokenInfo:
        """The cached token, re-issued when missing or within ``refresh_margin_s`` of expiry."""
        if self._token is None or self._token.expired(self.refresh_margin_s):
            return self.issue_token()
        return self._token

    def validate_token(self, token: TokenInfo | None = None) -> dict[str, Any]:
        """GET /v3/auth/token with the token as Bearer: the API's own verdict on it.

        Returns ``{"message", "expires_at", "project_id", "project_prem_status"}`` (the payload's
        ``api_key`` is dropped)."""
        info = token or self.token()
        response = request(
            self._client, "GET", "/v3/auth/token", service=SERVICE,
            headers={"Authorization": f"Bearer {info.bearer()}"},
        )
        raise_for_status(response, service=SERVICE, explain=_explain_validation)
        data = read_json(response, service=SERVICE, shape=dict)
        payload = data.get("payload") if isinstance(data.get("payload"), dict) else {}
        if isinstance(payload.get("api_key"), str):
            remember_secret(payload["api_key"])
        return {
            "message": data.get("message") if isinstance(data, dict) else None,
            "expires_at": data.get("expires_at") if isinstance(data, dict) else None,
            **{k: payload[k] for k in PUBLIC_CLAIMS if k in payload},
        }

    def public_trace(self, trace_id: str) -> dict[str, Any]:
        """GET /public/v1/traces/{trace_id} (Bearer token): the trace's spans, project-scoped."""
        info = self.token()
        response = request(
            self._client, "GET", f"/public/v1/traces/{trace_id}", service=SERVICE,
            headers={"Authorization": f"Bearer {info.bearer()}"},
        )
        raise_for_status(response, service=SERVICE, explain=_explain_public)
        return read_json(response, service=SERVICE, shape=dict)


def _explain_auth(response: httpx.Response) -> tuple[str, str] | None:
    code = response.status_code
    where = f"{SERVICE} POST /v3/auth/token"
    if code == 400:
        return (
            f"{where}: HTTP 400, the API key has a bad format (the API expects a UUID)",
            "agentops_api_key must reference the project's API key as shown in the dashboard"
            " (a UUID, no quotes or spaces)",
        )
    if code == 403:
        return (
            f"{where}: HTTP 403, the API key is not in the `projects` table of this AgentOps database",
            "the key was rotated, belongs to another deployment (e.g. AgentOps cloud), or the API uses"
            " another Supabase database: copy the key from this dashboard's project settings",
        )
    if code == 500:
        return (
            f"{where}: HTTP 500 ({body_snippet(response, 80) or 'no body'})",
            "most often database schema drift (the API log shows `UndefinedColumn`, e.g."
            f" org_invites.inviter_id or orgs.subscription_id): run `{repair_schema_command()}`."
            " Otherwise check JWT_SECRET_KEY is set for the API",
        )
    if code == 422:
        return (f"{where}: HTTP 422, the request was malformed", "this is a client bug: report it")
    if code in (404, 405):
        return (
            f"{where}: HTTP {code}, no token endpoint here",
            "agentops_api_url must point at the AgentOps API (default port 8000), not the dashboard",
        )
    return None


def _explain_validation(response: httpx.Response) -> tuple[str, str] | None:
    if response.status_code == 401:
        return (
            f"{SERVICE} GET /v3/auth/token: HTTP 401, the token is not accepted"
            f" ({body_snippet(response, 80) or 'no body'})",
            "the token expired, was signed with another JWT_SECRET_KEY, or the project's plan changed"
            " ('Reauthorized to use new plan'): issue a new token",
        )
    return None


def _explain_public(response: httpx.Response) -> tuple[str, str] | None:
    code = response.status_code
    if code == 400:
        return (
            f"{SERVICE} public API: HTTP 400, the Bearer token was refused",
            "issue a new token (POST /v3/auth/token) and retry",
        )
    if code == 404:
        return (
            f"{SERVICE} public API: HTTP 404, trace not found in this project",
            "check the trace id (32 lower-case hex digits), the project of the key, and wait for the"
            " collector batch (about 5 s)",
        )
    return None
