"""Configuration of one stand-in API process (secrets are values here; the CLI reads them from files)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...traces import schema
from .. import jwt_hs256

__all__ = ["ApiSettings"]


@dataclass
class ApiSettings:
    """What a stand-in API needs: its database, JWT secret, trace store and dashboard-session rules.

    ``cookie_secret`` signs the session cookie (upstream ``AUTH_COOKIE_SECRET``; random per process
    unless given). ``cookie_domain`` is the cookie's ``Domain`` (upstream: ``API_DOMAIN`` without the
    port). The two cache lifetimes are upstream's in-process caches of project metrics (300 s) and of
    trace-list pages other than an unfiltered first page (30 s); 0 turns a cache off. ``token_prices``
    prices spans that carry no stored cost (upstream: the ``tokencost`` package).
    """

    database_url: str
    jwt_secret: str = ""
    token_lifetime_s: float = jwt_hs256.DEFAULT_LIFETIME_S
    trace_store_url: str | None = None
    trace_store_user: str = "default"
    trace_store_password: str = ""
    trace_store_database: str = schema.DATABASE
    db_connect_timeout_s: float = 5.0
    cookie_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    cookie_domain: str = "localhost"
    #: The dashboard's origin (upstream ``PROTOCOL://APP_DOMAIN``), allowed by the /v4 answers' CORS headers.
    app_url: str = "http://localhost:3000"
    secure_cookie: bool = False
    session_lifetime_s: float = 7 * 24 * 3600
    cookie_max_age_s: int = 30 * 24 * 3600
    metrics_cache_s: float = 300.0
    trace_list_cache_s: float = 30.0
    #: LiteLLM-format price map for spans without stored costs (None: the one bundled with LiteLLM).
    token_prices: Mapping[str, Any] | None = None
