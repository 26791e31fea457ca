"""``create_app``: one FastAPI application assembled from the stand-in's routers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

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

__all__ = ["NO_CACHE", "create_app"]

#: Headers every upstream answer carries unless the view set them.
NO_CACHE = {"cache-control": "no-store, no-cache, must-revalidate, max-age=0", "pragma": "no-cache", "expires": "0"}


def create_app(settings: ApiSettings) -> FastAPI:
    """The stand-in API for ``settings``: health, SDK auth, dashboard session, ``/v4``, public and opsboard routes."""
    app = FastAPI(title="AgentOps API (sandbox stand-in)", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def cache_control(request: Request, call_next: Any) -> Any:  # upstream's CacheControlMiddleware
        response = await call_next(request)
        for name, value in NO_CACHE.items():
            response.headers.setdefault(name, value)
        return response

    failures.install(app)  # outermost, as upstream's: its 500 answers carry no cache headers
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
