"""Find and redact secrets in any text, in every form a value takes on its way into an artifact.

A known secret value is found raw and in each encoding a run can give it, in any mix:
JSON-escaped at any depth up to :data:`JSON_DEPTH` (``\\"``, ``\\\\\\"``, ``\\u00e9``), HTML-escaped
(named and numeric entities), URL-encoded (``%2F``, ``+``), split by whitespace, ``\\n`` escapes or
the line breaks of a notebook's multi-line strings; base64 (standard and URL-safe) of the value at any
offset, so also inside ``user:value`` or an embedded image; and fragments (prefixes, suffixes, any
window of at least :data:`FRAGMENT_LEN` characters) of a secret of :data:`FRAGMENT_FROM` characters or
more, which is what a cut leaves (not of a DSN, URL or ``key=value`` conninfo: its hosts, paths and ports are
ordinary text; its password is registered on its own). Besides known values, token shapes are secrets
wherever they appear: JWTs, ``sk-`` keys, the userinfo of a URL (``scheme://user:password@``) and credential-like query
values (``?api_key=``, ``&token=``, ``password=`` ...).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "FRAGMENT_FROM",
    "FRAGMENT_LEN",
    "JSON_DEPTH",
    "LeakFinding",
    "MIN_SECRET_LEN",
    "REDACTED",
    "TOKEN_SHAPES",
    "is_dsn",
    "redact_and_cut",
    "redact_text",
    "scan_and_redact_file",
]

REDACTED = "[REDACTED]"
#: Shorter values cannot be told from ordinary text; :mod:`runbook_lib.secrets` refuses them.
MIN_SECRET_LEN = 8
#: Fragments of at least this many characters are redacted ...
FRAGMENT_LEN = 10
#: ... for secrets of at least this many characters (DSNs excepted: see :func:`is_dsn`).
FRAGMENT_FROM = 16
#: A window with fewer distinct characters (``00000000-0000-``) is ordinary text, not evidence of a cut.
FRAGMENT_DISTINCT = 5
JSON_DEPTH = 4

_CREDENTIAL_KEYS = (r"api[_-]?key|apikey|access[_-]?token|auth[_-]?token|id[_-]?token|refresh[_-]?token|token"
                    r"|password|passwd|pwd|secret|client[_-]?secret|private[_-]?key|key|sig|signature")
_USERINFO_CHARS = r"[^\s/@:\"'<>{}\[\]$\\]"
TOKEN_SHAPES: dict[str, re.Pattern[str]] = {
    "jwt": re.compile(r"eyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{10,}"),
    "sk-key": re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{4,}"),
    "dsn-password": re.compile(
        rf"(?P<pre>\bpostgres(?:ql)?://{_USERINFO_CHARS}+:)(?P<secret>{_USERINFO_CHARS}+)(?P<post>@)"),
    "url-userinfo": re.compile(
        rf"(?P<pre>\b(?!postgres(?:ql)?://)[A-Za-z][A-Za-z0-9+.-]*://)(?P<secret>{_USERINFO_CHARS}+"
        rf"(?::{_USERINFO_CHARS}*)?)(?P<post>@)"),
    "query-credential": re.compile(
        rf"(?i)(?P<pre>[?&;](?:{_CREDENTIAL_KEYS})=)(?P<secret>[^&\s\"'<>#{{}}\[\]\\]{{4,}})"),
}
# Documentation placeholders (``postgresql://user:password@host``, ``?token=TOKEN``) are not secrets.
_PLACEHOLDER = re.compile(r"(?i)^(?:(?:user(?:name)?|USER):)?(?:pw|pwd|pass|password|passwd|secret|token|key"
                          r"|api[_-]?key|x+|\*+|\.\.\.|…|changeme)$")
# Between two characters of a secret: whitespace, escaped line breaks at any JSON depth, the seam of
# a notebook's multi-line string list (``"abc\n",\n   "def"``) and HTML line breaks.
_SEP = r'(?:\s|\\{1,15}[nrt]|",\s*"|<br\s*/?>)*'


_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
# libpq's key=value form: at least two ``key=`` words (a base64 value's ``=`` padding is not one).
_CONNINFO = re.compile(r"^\s*[A-Za-z_]+\s*=.*\s[A-Za-z_]+\s*=", re.DOTALL)


def is_dsn(value: str) -> bool:
    """True for a URL (``scheme://...``) or a libpq ``key=value`` connection string."""
    return bool(_URL.match(value) or _CONNINFO.match(value))


@dataclass(frozen=True)
class LeakFinding:
    file: str
    kind: str  # "secret-value", "secret-base64", "secret-fragment" or a TOKEN_SHAPES key
    count: int


def _json_forms(text: str) -> set[str]:
    return {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1], text.replace("/", "\\/")}


@lru_cache(maxsize=4096)
def _char_pattern(ch: str) -> str:
    """A regex alternation of every form one character can take (escapes at any depth, mixed)."""
    forms = {ch}
    layer = {ch}
    for _ in range(JSON_DEPTH + 1):  # JSON and HTML escaping in any order (HTML inside JSON inside HTML)
        layer = {f for form in layer for f in _json_forms(form) | {html.escape(form)}}
        forms |= layer
    for form in list(forms):
        forms.add(quote(form, safe=""))
        forms.add(quote(form, safe="").lower())
    if not ch.isalnum():
        forms |= {f"&#{ord(ch)};", f"&#x{ord(ch):x};", f"&#X{ord(ch):X};"}
    if ch == " ":
        forms.add("+")
    if not ch.isascii():
        forms |= {f"&#{ord(ch)};", f"&#x{ord(ch):x};"}
    ordered = sorted(forms, key=len, reverse=True)
    return ordered[0] if len(ordered) == 1 and ch.isalnum() else "(?:" + "|".join(map(re.escape, ordered)) + ")"


def _value_pattern(value: str) -> str:
    return _SEP.join(_char_pattern(ch) for ch in value)


def _base64_cores(value: str) -> set[str]:
    """The base64 characters that depend only on ``value``, for each of the three byte offsets."""
    raw = value.encode("utf-8")
    cores = set()
    for k in range(3):
        start, end = -(-8 * k // 6), (8 * (k + len(raw))) // 6
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            core = encode(b"\0" * k + raw).decode("ascii")[start:end]
            if len(core) >= MIN_SECRET_LEN:
                cores.add(core)
    return cores


def _fragments(value: str) -> list[tuple[int, str]]:
    """``(position, window)`` for the windows of FRAGMENT_LEN characters a cut can leave of ``value``.

    Only the secret-bearing part counts: of a JWT its signature (the header and claims are base64 of
    JSON every token of that issuer shares), and only windows of at least FRAGMENT_DISTINCT distinct
    characters (runs such as ``00000000-0000-`` stand in any UUID)."""
    if len(value) < FRAGMENT_FROM or "://" in value or is_dsn(value):
        return []
    first = value.rindex(".") + 1 if TOKEN_SHAPES["jwt"].fullmatch(value) else 0
    return [(i, value[i:i + FRAGMENT_LEN]) for i in range(first, len(value) - FRAGMENT_LEN + 1)
            if len(set(value[i:i + FRAGMENT_LEN])) >= FRAGMENT_DISTINCT]


def _whole_forms(text: str) -> set[str]:
    """``text`` escaped as a whole: JSON (1-2 levels), HTML, both orders, URL."""
    forms = {text, quote(text, safe=""), quote(text, safe="").lower()}
    for _ in range(2):
        forms |= {f for form in forms for f in _json_forms(form) | {html.escape(form)}}
    return forms


def _seeds(windows: Iterable[str]) -> set[str]:
    """Cheap substring tests, one of which any encoded window contains: a run of at least 8 characters
    no encoding here changes (letters, digits, ``-._~``), else every whole-window encoding."""
    seeds: set[str] = set()
    for window in windows:
        runs = sorted(re.findall(r"[A-Za-z0-9._~-]+", window), key=len, reverse=True)
        seeds |= {runs[0]} if runs and len(runs[0]) >= 8 else _whole_forms(window)
    return seeds


@dataclass(frozen=True)
class _SecretPatterns:
    """Compiled patterns for one secret value (cached: adding a secret compiles only its own)."""

    secret: str
    value: re.Pattern[str]
    encoded: re.Pattern[str] | None
    fragment_seeds: tuple[str, ...]
    fragments: re.Pattern[str] | None


@lru_cache(maxsize=1024)
def _patterns(secret: str) -> _SecretPatterns:
    cores = sorted(_base64_cores(secret), key=len, reverse=True)
    windows = _fragments(secret)
    return _SecretPatterns(
        secret=secret,
        value=re.compile(_value_pattern(secret)),
        encoded=re.compile("|".join(_value_pattern(c) for c in cores)) if cores else None,
        fragment_seeds=tuple(sorted(_seeds(w for _, w in windows))),
        fragments=re.compile("|".join(f"(?P<w{i}>{_value_pattern(w)})" for i, w in windows)) if windows else None,
    )


@lru_cache(maxsize=4096)
def _step(ch: str, forward: bool) -> re.Pattern[str]:
    return re.compile(_SEP + _char_pattern(ch)) if forward else re.compile(_char_pattern(ch) + _SEP + r"\Z")


def _grow_fragment(text: str, match: re.Match[str], secret: str) -> tuple[int, int]:
    """Extend a matched window (group ``w<position>``) over the neighbouring characters of the secret,
    in any encoding."""
    start, end = match.span()
    first = int((match.lastgroup or "w0")[1:])
    last = first + FRAGMENT_LEN
    while last < len(secret) and (m := _step(secret[last], True).match(text, end)):
        end, last = m.end(), last + 1
    while first > 0:
        head = text[max(0, start - 64):start]
        m = _step(secret[first - 1], False).search(head)
        if not m:
            break
        start, first = start - (len(head) - m.start()), first - 1
    return start, end


def redact_text(text: str, secrets: Iterable[str]) -> tuple[str, dict[str, int]]:
    """Return ``text`` with secrets (every form, see the module doc) and token shapes replaced by
    ``[REDACTED]``, and hit counts by kind."""
    hits: dict[str, int] = {}

    def count(kind: str, n: int) -> None:
        if n:
            hits[kind] = hits.get(kind, 0) + n

    ordered = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)
    compiled = [_patterns(s) for s in ordered]
    for p in compiled:
        text, n = p.value.subn(REDACTED, text)
        count("secret-value", n)
    for p in compiled:
        if p.encoded is not None:
            text, n = p.encoded.subn(REDACTED, text)
            count("secret-base64", n)
    for p in compiled:
        if p.fragments is None or not any(seed in text for seed in p.fragment_seeds):
            continue
        spans: list[list[int]] = []
        for match in p.fragments.finditer(text):
            start, end = _grow_fragment(text, match, p.secret)
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        for start, end in reversed(spans):
            text = text[:start] + REDACTED + text[end:]
        count("secret-fragment", len(spans))
    for kind, shape in TOKEN_SHAPES.items():
        n = 0

        def _replace(m: re.Match[str], shape: re.Pattern[str] = shape) -> str:
            nonlocal n
            if "secret" not in shape.groupindex:
                n += 1
                return REDACTED
            if m["secret"].startswith(REDACTED) or _PLACEHOLDER.match(m["secret"]):
                return m[0]
            n += 1
            return m["pre"] + REDACTED + m["post"] if "post" in shape.groupindex else m["pre"] + REDACTED

        text = shape.sub(_replace, text)
        count(kind, n)
    return text, hits


def redact_and_cut(text: str, secrets: Iterable[str], limit: int, *, one_line: bool = True) -> str:
    """Redact first, then shorten to ``limit`` characters (``…`` marks a cut): a secret that would
    cross the cut is already gone. ``one_line`` folds whitespace runs into single spaces."""
    text, _ = redact_text(text, secrets)
    if one_line:
        text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def scan_and_redact_file(path: Path, secrets: Iterable[str]) -> list[LeakFinding]:
    """Redact ``path`` in place when it holds secrets; return what was found."""
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    new, hits = redact_text(text, secrets)
    if new != text:
        path.write_text(new, encoding="utf-8", errors="surrogateescape")
    return [LeakFinding(path.name, kind, n) for kind, n in sorted(hits.items())]
