"""``create_app``: one FastAPI application assembled from the stand-in's routers."""

from __future__ import annotations

from fastapi import FastAPI

from . import failures
from .api_tokens import TokenRules
from .auth_routes import auth_router
from .dashboard_routes import dashboard_router
from .figures import TokenPrices
from .opsboard_routes import opsboard_router
from .projects import ProjectStore
from .public_routes import public_router
from .sessions import SessionStore, session_router
from .settings import ApiSettings
from .store_queries import TraceStore

__all__ = ["create_app"]


def create_app(settings: ApiSettings) -> FastAPI:
    """The stand-in API for ``settings``: health, SDK auth, dashboard session, ``/v4``, public and opsboard routes."""
    app = FastAPI(title="AgentOps API (sandbox stand-in)", docs_url=None, redoc_url=None, openapi_url=None)
    failures.install(app)
    projects, store = ProjectStore(settings), TraceStore(settings)
    tokens, sessions = TokenRules(settings), SessionStore(settings)
    prices = TokenPrices.installed() if settings.token_prices is None else TokenPrices(settings.token_prices)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"message": "Server Up"}

    for router in (auth_router(projects, tokens), session_router(sessions),
                   dashboard_router(settings, projects, store, sessions, prices),
                   public_router(projects, store, tokens, prices),
                   opsboard_router(projects, store, sessions)):
        app.include_router(router)
    return app
