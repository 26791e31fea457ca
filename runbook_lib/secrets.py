"""Secret references: parameters carry ``env:NAME`` or ``file:PATH``, never values.

Values are resolved at call time inside the library. Every value resolved in this process is
remembered so that :func:`redact` can strip it, in every encoding :mod:`runbook_lib.leaks` knows,
from any text (exception messages, logs). Resolving refuses, without showing any of the value:
a value shorter than :data:`~runbook_lib.leaks.MIN_SECRET_LEN` characters (the scanner could not
tell it from ordinary text), a ``file:`` whose file group or others may read, and a non-ASCII value
unless it is a DSN (other secrets travel in HTTP headers, which carry ASCII only).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import SecretReferenceError
from .leaks import MIN_SECRET_LEN, is_dsn, redact_and_cut, redact_text

__all__ = ["SecretRef", "is_reference", "redact", "redact_and_cut_known", "remember_secret", "resolve_secret",
           "known_secrets", "check_secret_value"]

_REFERENCE = re.compile(r"^(?P<kind>env|file):(?P<target>.+)$")
_known: set[str] = set()

REFERENCE_FORMS = "env:NAME (an environment variable) or file:PATH (a file only you can read)"


def is_reference(value: object) -> bool:
    """True when ``value`` is a string of the form ``env:NAME`` or ``file:PATH``."""
    return isinstance(value, str) and bool(_REFERENCE.match(value.strip()))


@dataclass(frozen=True)
class SecretRef:
    """A reference to a secret. ``str()`` shows the reference, never the value."""

    kind: str
    target: str

    @classmethod
    def parse(cls, text: str | SecretRef, *, name: str = "secret") -> SecretRef:
        """Parse ``env:NAME`` / ``file:PATH``; anything else is refused without echoing it."""
        if isinstance(text, SecretRef):
            return text
        match = _REFERENCE.match(text.strip()) if isinstance(text, str) else None
        if not match:
            raise SecretReferenceError(
                f"parameter {name!r} takes a secret reference, not a value",
                hint=f"pass {REFERENCE_FORMS}, e.g. -p {name} env:{name.upper()}",
            )
        return cls(match["kind"], match["target"].strip())

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"

    def exists(self) -> bool:
        """True when the variable is set (non-empty) or the file exists."""
        if self.kind == "env":
            return bool(os.environ.get(self.target))
        return Path(self.target).expanduser().is_file()

    def resolve(self) -> str:
        """Return the secret value, remembering it for :func:`redact`."""
        if self.kind == "env":
            value = os.environ.get(self.target)
            if not value:
                raise SecretReferenceError(
                    f"secret reference {self} points at an unset environment variable",
                    hint=f"export {self.target}=... in the environment that runs the runbook",
                )
        else:
            path = Path(self.target).expanduser()
            try:
                value = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SecretReferenceError(
                    f"secret reference {self} cannot be read ({exc.strerror or exc.__class__.__name__})",
                    hint="check the path, and that the file is readable by the user running the runbook",
                ) from None
            if not value:
                raise SecretReferenceError(f"secret file {path} is empty", hint="write the secret into it")
            if not self.file_is_private():
                raise SecretReferenceError(
                    f"secret file {path} may be read by group or others",
                    hint=f"chmod 600 {path} (and keep it out of shared folders)",
                )
        check_secret_value(value, where=str(self))
        remember_secret(value)
        return value

    def file_is_private(self) -> bool | None:
        """For ``file:`` references, whether group and others have no access; None for ``env:``."""
        if self.kind != "file":
            return None
        mode = Path(self.target).expanduser().stat().st_mode
        return not mode & (stat.S_IRWXG | stat.S_IRWXO)


def resolve_secret(reference: str | SecretRef, *, name: str = "secret") -> str:
    """Resolve a reference string or :class:`SecretRef` to its value."""
    return SecretRef.parse(reference, name=name).resolve()


def check_secret_value(value: str, *, where: str = "the secret") -> None:
    """Refuse a value the leak scanner cannot protect; the message shows none of it."""
    if len(value) < MIN_SECRET_LEN:
        raise SecretReferenceError(
            f"the value behind {where} is shorter than {MIN_SECRET_LEN} characters: the leak scan could not"
            " tell it from ordinary text, so it could reach a report unnoticed",
            hint=f"use a secret of at least {MIN_SECRET_LEN} characters (e.g. `openssl rand -hex 24`)",
        )
    if not value.isascii() and not is_dsn(value):
        raise SecretReferenceError(
            f"the value behind {where} holds non-ASCII characters; it is sent in HTTP headers, which carry"
            " ASCII only",
            hint="use an ASCII key (a DSN password may be non-ASCII: it is percent-encoded in the DSN)",
        )


def remember_secret(value: str) -> None:
    """Register a value (and the password inside a DSN, URL or ``key=value`` form, raw and percent-decoded)
    so :func:`redact` removes it. Values shorter than the scanner's minimum are ignored."""
    from urllib.parse import unquote

    if value and len(value) >= MIN_SECRET_LEN:
        _known.add(value)
        password = _dsn_password(value)
        if password:
            _known.update(pw for pw in {password, unquote(password)} if len(pw) >= MIN_SECRET_LEN)


def _dsn_password(value: str) -> str | None:
    """The password of a URL's userinfo or of a libpq ``key=value`` string (psycopg parses the quoting)."""
    match = re.match(r"^[a-z][a-z0-9+.-]*://[^:/@]*:(?P<pw>[^@]+)@", value, re.IGNORECASE)
    if match:
        return match["pw"]
    if is_dsn(value):
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        try:
            return str(conninfo_to_dict(value).get("password") or "") or None
        except psycopg.ProgrammingError:  # not libpq's grammar after all: the whole value stays registered
            return None
    return None


def known_secrets() -> frozenset[str]:
    """Every secret value resolved or registered in this process."""
    return frozenset(_known)


def redact(text: str, extra: frozenset[str] | set[str] = frozenset()) -> str:
    """Replace every known secret value (in every encoding) and every token shape with ``[REDACTED]``."""
    return redact_text(text, _known | set(extra))[0]


def redact_and_cut_known(text: str, limit: int, *, one_line: bool = True) -> str:
    """Redact every known secret first, then shorten to ``limit`` characters: the one way to cut text
    that may hold a secret (a secret crossing the cut would otherwise survive in part)."""
    return redact_and_cut(text, _known, limit, one_line=one_line)
