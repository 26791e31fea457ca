"""Authentication as ClickHouse's HTTP interface takes it: one user and password per store.

Credentials come, in this order, from HTTP Basic auth, the ``X-ClickHouse-User``/``X-ClickHouse-Key`` headers,
or the ``user``/``password`` URL parameters; none given means user ``default`` with an empty password.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from typing import Any

from .failures import QueryFailed

__all__ = ["authentication_failed", "credentials", "same_secret"]


def credentials(headers: Any, params: Mapping[str, str]) -> tuple[str, str]:
    """The user and password a request presents."""
    given_user, given_password = "default", ""
    header = headers.get("Authorization") or ""
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode()
            given_user, _, given_password = decoded.partition(":")
        except (ValueError, UnicodeDecodeError):
            given_user, given_password = "", ""
    elif headers.get("X-ClickHouse-User") is not None or headers.get("X-ClickHouse-Key"):
        given_user = headers.get("X-ClickHouse-User") or "default"
        given_password = headers.get("X-ClickHouse-Key") or ""
    elif "user" in params or "password" in params:
        given_user, given_password = params.get("user") or "default", params.get("password", "")
    return given_user, given_password


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of a presented password with the store's."""
    return hmac.compare_digest(given.encode(), expected.encode())


def authentication_failed(given_user: str) -> QueryFailed:
    """ClickHouse's answer to a wrong user or password (the password is never named)."""
    return QueryFailed(516, "AUTHENTICATION_FAILED",
                       f"Code: 516. DB::Exception: {given_user}: Authentication failed: password is "
                       "incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)")
