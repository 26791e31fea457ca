"""Find and redact secrets in the artifacts a run wrote.

Two kinds of hits: any known secret value (raw, JSON-escaped or HTML-escaped), and common token
shapes (JWTs, ``sk-`` keys, passwords inside ``postgresql://user:password@`` DSNs).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LeakFinding", "redact_text", "scan_and_redact_file", "REDACTED"]

REDACTED = "[REDACTED]"
TOKEN_SHAPES: dict[str, re.Pattern[str]] = {
    "jwt": re.compile(r"eyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{10,}"),
    "sk-key": re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{4,}"),
    "dsn-password": re.compile(r"(?P<pre>postgres(?:ql)?://[^:/@\s\"'<>]+:)(?P<pw>[^@\s\"'<>]+)(?P<at>@)"),
}


@dataclass(frozen=True)
class LeakFinding:
    file: str
    kind: str  # "secret-value" or a TOKEN_SHAPES key
    count: int


def _variants(secret: str) -> set[str]:
    return {secret, json.dumps(secret)[1:-1], html.escape(secret), html.escape(json.dumps(secret)[1:-1])}


def redact_text(text: str, secrets: Iterable[str]) -> tuple[str, dict[str, int]]:
    """Return ``text`` with secrets and token shapes replaced, and hit counts by kind."""
    hits: dict[str, int] = {}
    for secret in sorted({v for s in secrets if s for v in _variants(s)}, key=len, reverse=True):
        n = text.count(secret)
        if n:
            hits["secret-value"] = hits.get("secret-value", 0) + n
            text = text.replace(secret, REDACTED)
    for kind, pattern in TOKEN_SHAPES.items():
        count = 0

        def _replace(m: re.Match[str], kind: str = kind) -> str:
            nonlocal count
            if kind == "dsn-password":
                if m["pw"] == REDACTED:
                    return m[0]
                count += 1
                return m["pre"] + REDACTED + m["at"]
            count += 1
            return REDACTED

        text = pattern.sub(_replace, text)
        if count:
            hits[kind] = hits.get(kind, 0) + count
    return text, hits


def scan_and_redact_file(path: Path, secrets: Iterable[str]) -> list[LeakFinding]:
    """Redact ``path`` in place when it holds secrets; return what was found."""
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    new, hits = redact_text(text, secrets)
    if new != text:
        path.write_text(new, encoding="utf-8", errors="surrogateescape")
    return [LeakFinding(path.name, kind, n) for kind, n in sorted(hits.items())]
