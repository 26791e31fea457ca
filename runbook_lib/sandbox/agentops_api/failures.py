"""Unhandled errors, answered and logged the way the real API does.

The real API reaches PostgreSQL through SQLAlchemy, which wraps a driver error as
``sqlalchemy.exc.<DBAPI class>`` whose text is the driver's message, then ``[SQL: …]``,
``[parameters: {…}]`` (the bound values, the project API key among them) and a background link.
Its ``ExceptionMiddleware`` logs ``Exception: <that text>`` with the traceback and answers
``500 {"error": "Internal Server Error"}``; uvicorn then logs ``Exception in ASGI application`` with
the traceback again, after the answer has been sent (the stand-in does it in a background task, so a
reader counting log lines right after the answer sees what it would see upstream: the third copy
of the key arrives a moment later; it is written before the connection serves its next request).
:class:`DatabaseFailure` carries the same text and :func:`install` reproduces the two log entries,
so the runbooks' advice about that log can be tested against the stand-in.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

__all__ = ["DatabaseFailure", "install", "internal_error", "log"]

log = logging.getLogger("agentops.api")
_asgi_log = logging.getLogger("uvicorn.error")

#: SQLAlchemy's error class per DB-API class, with the code of its background page.
_WRAPPERS: tuple[tuple[type[Exception], str, str], ...] = (
    (psycopg.ProgrammingError, "ProgrammingError", "f405"),
    (psycopg.OperationalError, "OperationalError", "e3q8"),
    (psycopg.IntegrityError, "IntegrityError", "gkpj"),
    (psycopg.DataError, "DataError", "9h9h"),
    (psycopg.InternalError, "InternalError", "2j85"),
    (psycopg.NotSupportedError, "NotSupportedError", "tw8g"),
    (psycopg.InterfaceError, "InterfaceError", "rvf5"),
    (psycopg.DatabaseError, "DatabaseError", "4xp6"),
)


class DatabaseFailure(Exception):
    """A database error with SQLAlchemy's text: driver message, statement, bound parameters, background link."""

    def __init__(self, error: psycopg.Error, sql: str, params: Mapping[str, Any]) -> None:
        name, code = next(((n, c) for cls, n, c in _WRAPPERS if isinstance(error, cls)), ("DBAPIError", "dbapi"))
        self.wrapper = name
        driver = f"({type(error).__module__}.{type(error).__name__}) {str(error).rstrip()}"
        super().__init__(f"{driver}\n[SQL: {sql}]\n[parameters: {dict(params)!r}]\n"
                         f"(Background on this error at: https://sqlalche.me/e/20/{code})")


def _traceback(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc)).rstrip()
    if isinstance(exc, DatabaseFailure):  # name the wrapper as SQLAlchemy does
        head = f"{type(exc).__module__}.{type(exc).__qualname__}: "
        text = text.replace(head, f"sqlalchemy.exc.{exc.wrapper}: ")
    return text


def internal_error() -> JSONResponse:
    return JSONResponse({"error": "Internal Server Error"}, status_code=500)


def install(app: FastAPI) -> None:
    """Answer any unhandled exception with upstream's 500 body and log it in upstream's shape."""

    @app.middleware("http")
    async def exception_middleware(request: Request, call_next: Any) -> Any:
        try:
            return await call_next(request)
        except Exception as exc:
            text = _traceback(exc)
            log.error("Exception: %s\n%s", exc, text)
            response = internal_error()
            response.background = BackgroundTask(_asgi_log.error, "Exception in ASGI application\n%s", text)
            return response
