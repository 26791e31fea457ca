"""The SDK's auth routes: ``POST/GET /v3/auth/token`` and ``POST /public/v1/auth/access_token``.

- ``POST /v3/auth/token {"api_key"}`` -> 200 ``{token, project_id, project_prem_status}``; 400
  ``{"error": "Invalid API key format"}``; 403 ``{"error": "Invalid API key"}``; 422 without the field;
  500 ``{"error": "Authentication failed"}`` for any other failure. A failed lookup is logged once as
  ``Error authenticating: <SQLAlchemy-style text>``, the ``[parameters: {'api_key_1': UUID('…')}]``
  line included, as upstream does;
- ``GET /v3/auth/token`` (Bearer) -> 200 ``{message, payload, expires_at}``; 401 ``{"detail": …}``;
  ``Reauthorized to use new plan`` when the org's plan changed since the token was issued;
- ``POST /public/v1/auth/access_token {"api_key"}`` -> ``{"bearer"}``; 400 / 404 ``{"detail": …}``; a
  failed lookup is unhandled there (500, logged by the exception middleware and by uvicorn).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pydantic
from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import JSONResponse

from .api_tokens import TokenRules
from .failures import log
from .projects import ProjectStore

__all__ = ["auth_router"]


class _TokenBody(pydantic.BaseModel):
    api_key: str


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def auth_router(projects: ProjectStore, tokens: TokenRules) -> APIRouter:
    """Routes of the SDK's token exchange (v3) and of the public API's access token."""
    router = APIRouter()

    @router.post("/v3/auth/token")
    def get_token(body: _TokenBody) -> Any:
        try:
            api_key = uuid.UUID(body.api_key)
            project = projects.by_api_key(api_key)
            if project is None:
                log.warning("Invalid API key: Invalid API key")
                return _error(403, "Invalid API key")
            return {"token": tokens.issue(project), "project_id": project.id,
                    "project_prem_status": project.prem_status}
        except ValueError as exc:
            log.warning("Invalid API key format: %s", exc)
            return _error(400, "Invalid API key format")
        except Exception as exc:
            log.error("Error authenticating: %s", exc)
            return _error(500, "Authentication failed")

    @router.get("/v3/auth/token")
    def verify_token(authorization: str | None = Header(None)) -> Any:
        claims = tokens.bearer_claims(authorization)
        project = projects.by_id(str(claims["project_id"]))
        if project is None:  # upstream dereferences None -> unhandled -> 500
            raise RuntimeError("'NoneType' object has no attribute 'org'")
        if project.prem_status != claims["project_prem_status"]:
            raise HTTPException(status_code=401, detail="Reauthorized to use new plan")
        return {"message": "JWT token is valid", "payload": tokens.payload(claims),
                "expires_at": datetime.fromtimestamp(claims["exp"]).isoformat()}

    @router.post("/public/v1/auth/access_token")
    def access_token(body: _TokenBody) -> Any:
        if not body.api_key:
            raise HTTPException(status_code=400, detail="api_key is required")
        try:
            uuid.UUID(body.api_key)
        except ValueError:
            raise HTTPException(status_code=400, detail="Invalid api_key format") from None
        project = projects.by_api_key(body.api_key)
        if project is None:
            raise HTTPException(status_code=404, detail="Project not found")
        return {"bearer": tokens.issue(project)}

    return router
