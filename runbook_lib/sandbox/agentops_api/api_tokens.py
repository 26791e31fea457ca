"""The API's project tokens (HS256 JWTs with the project key) and how each route family checks them.

``/v3/auth/token`` answers 401 with a reason; the public API answers 400 for any bad bearer.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request

from .. import jwt_hs256
from .projects import ProjectRow
from .settings import ApiSettings

__all__ = ["JWT_FIELDS", "TokenRules"]

#: Claims of a project token, in upstream order (``dev`` only when true).
JWT_FIELDS = ("exp", "aud", "project_id", "project_prem_status", "api_key", "dev")


class TokenRules:
    """Issue and verify project tokens for ``settings``."""

    def __init__(self, settings: ApiSettings) -> None:
        self._settings = settings

    def issue(self, project: ProjectRow) -> str:
        return jwt_hs256.issue_token(self._settings.jwt_secret, project_id=project.id,
                                     project_prem_status=project.prem_status, api_key=project.api_key,
                                     lifetime_s=self._settings.token_lifetime_s)

    def verify(self, token: str) -> dict[str, Any]:
        claims = jwt_hs256.verify_api_token(token, self._settings.jwt_secret)
        unknown = set(claims) - set(JWT_FIELDS)
        missing = set(JWT_FIELDS[:5]) - set(claims)
        if unknown or missing:  # upstream: JWTPayload(**claims) raises TypeError -> 500
            raise TypeError(f"unexpected token claims: {sorted(unknown | missing)}")
        return claims

    @staticmethod
    def payload(claims: dict[str, Any]) -> dict[str, Any]:
        out = {key: claims[key] for key in JWT_FIELDS[:5]}
        if claims.get("dev"):
            out["dev"] = claims["dev"]
        return out

    def bearer_claims(self, authorization: str | None) -> dict[str, Any]:
        """``GET /v3/auth/token``'s check: 401 with the reason."""
        if not authorization:
            raise HTTPException(status_code=401, detail="Authorization header missing")
        try:
            scheme, token = authorization.split()
            if scheme.lower() != "bearer":
                raise HTTPException(status_code=401, detail="Invalid authentication scheme")
            return self.verify(token)
        except ValueError:
            raise HTTPException(status_code=401, detail="Invalid token format") from None
        except jwt_hs256.ExpiredSignatureError:
            raise HTTPException(status_code=401, detail="Token has expired") from None
        except jwt_hs256.InvalidAudienceError:
            raise HTTPException(status_code=401, detail="Invalid audience") from None
        except jwt_hs256.InvalidTokenError:
            raise HTTPException(status_code=401, detail="Invalid token") from None

    def public_claims(self, request: Request) -> dict[str, Any]:
        """The public API's check: 400 for a missing, malformed or invalid bearer."""
        header = request.headers.get("Authorization")
        if not header or not header.startswith("Bearer "):
            raise HTTPException(status_code=400, detail="Missing or invalid Authorization header")
        try:
            return self.verify(header.split(" ")[1])
        except Exception:
            raise HTTPException(status_code=400, detail="Invalid Bearer token") from None
