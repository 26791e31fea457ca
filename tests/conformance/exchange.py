"""One request sent to both APIs, and the comparison of their answers.

The stand-in and the upstream API run side by side over the same PostgreSQL database and the same trace
store, so ids, rows and figures are the same on both; what can still differ legitimately is time: a JWT
issued a second later has another ``exp``, hence another signature and ``expires_at``. :func:`normalise`
replaces every JWT by its header and claims and every pydantic-version-specific URL by its path, then
:func:`differences` lists what remains, as ``path: stand-in value != upstream value`` lines; times
(``exp``, ``iat``, ``nbf``, ``expires_at``) count as equal within :data:`TIME_SLACK_S` seconds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

__all__ = ["Answer", "differences", "normalise", "send_both"]

_JWT = re.compile(r"^[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}$")
_PYDANTIC_URL = re.compile(r"^https://errors\.pydantic\.dev/[0-9.]+/")
#: ``exp``/``iat`` and ISO times may differ by the seconds between the two requests.
TIME_SLACK_S = 10
TIME_KEYS = frozenset({"exp", "iat", "nbf", "expires_at"})


@dataclass(frozen=True)
class Answer:
    """What one API answered: status, media type and the body (JSON when it is JSON)."""

    status: int
    media_type: str
    body: Any
    cookies: tuple[str, ...] = ()

    @classmethod
    def of(cls, response: httpx.Response) -> Answer:
        media = response.headers.get("content-type", "").split(";")[0].strip()
        try:
            body: Any = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = response.text
        cookies = tuple(sorted(c.split("=", 1)[0] for c in response.headers.get_list("set-cookie")))
        return cls(response.status_code, media, body, cookies)


def send_both(standin: str, upstream: str, method: str, path: str, **kwargs: Any) -> tuple[Answer, Answer]:
    """Send the same request to both base URLs; return (stand-in answer, upstream answer)."""
    answers = []
    for base in (standin, upstream):
        response = httpx.request(method, base.rstrip("/") + path, timeout=60, **kwargs)
        answers.append(Answer.of(response))
    return answers[0], answers[1]


def _jwt_view(token: str) -> dict[str, Any]:
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return {"jwt.header": header, "jwt.claims": claims, "jwt.claim_order": list(claims)}


def normalise(value: Any) -> Any:
    """``value`` with JWTs replaced by their header and claims and version-specific URLs cut."""
    if isinstance(value, dict):
        return {key: _normalise_field(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if isinstance(value, str):
        if _JWT.match(value):
            try:
                return _jwt_view(value)
            except jwt.PyJWTError:
                return value
        return _PYDANTIC_URL.sub("https://errors.pydantic.dev/X/", value)
    return value


def _normalise_field(key: str, value: Any) -> Any:
    if key == "expires_at" and isinstance(value, str):
        from datetime import datetime

        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return value
    return normalise(value)


def differences(standin: Answer, upstream: Answer) -> list[str]:
    """Every place where the two answers differ after :func:`normalise`, one line each."""
    out: list[str] = []
    if standin.status != upstream.status:
        out.append(f"status: {standin.status} != {upstream.status}")
    if standin.media_type != upstream.media_type:
        out.append(f"content-type: {standin.media_type} != {upstream.media_type}")
    if standin.cookies != upstream.cookies:
        out.append(f"set-cookie: {standin.cookies} != {upstream.cookies}")
    _diff(normalise(standin.body), normalise(upstream.body), "body", out)
    return out


def _diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    if path.rsplit(".", 1)[-1] in TIME_KEYS and all(isinstance(v, int | float) for v in (a, b)):
        if abs(a - b) > TIME_SLACK_S:
            out.append(f"{path}: {a} != {b} (more than {TIME_SLACK_S} s apart)")
        return
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b) and set(a) == set(b):
            out.append(f"{path}: key order {list(a)} != {list(b)}")
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(f"{path}.{key}: {'<absent>' if key not in a else _short(a[key])} != "
                           f"{'<absent>' if key not in b else _short(b[key])}")
            else:
                _diff(a[key], b[key], f"{path}.{key}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items != {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _diff(x, y, f"{path}[{i}]", out)
    elif isinstance(a, float) or isinstance(b, float):
        if not (isinstance(a, int | float) and isinstance(b, int | float)) or abs(a - b) > 1e-7:
            out.append(f"{path}: {_short(a)} != {_short(b)}")
    elif a != b or type(a) is not type(b):
        out.append(f"{path}: {_short(a)} != {_short(b)}")


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:117] + "..."
