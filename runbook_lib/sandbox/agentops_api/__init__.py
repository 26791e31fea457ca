"""A stand-in for the self-hosted AgentOps API, upstream-faithful on the routes the runbooks and dashboard read.

One module per part:

- ``settings``: :class:`ApiSettings`; ``process``: arguments, the JWT-secret rule, uvicorn (``main``);
- ``app``: :func:`create_app` assembling the routers; ``failures``: upstream's 500 body and error logs;
- ``projects``: project/organisation/membership lookups in PostgreSQL (:class:`ProjectRow`);
- ``api_tokens`` + ``auth_routes``: the SDK's ``/v3/auth/token`` and the public access token;
- ``sessions``: ``POST /auth/session`` and the session cookie of the dashboard routes;
- ``dashboard_routes`` (``/v4`` trace list, trace detail, project metrics), ``public_routes``
  (``/public/v1``), ``opsboard_routes`` (``/opsboard/projects``);
- ``store_queries``: the ClickHouse reads; ``figures``: token and cost rules; ``attributes`` and
  ``span_views``: how spans are shown.

Where the stand-in still differs from upstream is listed in each module's docstring.
"""

from __future__ import annotations

from .app import create_app
from .process import main
from .projects import ProjectRow
from .settings import ApiSettings

__all__ = ["ApiSettings", "ProjectRow", "create_app", "main"]
