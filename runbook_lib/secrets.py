"""Secret references: parameters carry ``env:NAME`` or ``file:PATH``, never values.

Values are resolved at call time inside the library. Every value resolved in this process is
remembered so that :func:`redact` can strip it from any text (exception messages, logs).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import SecretReferenceError

__all__ = ["SecretRef", "is_reference", "redact", "remember_secret", "resolve_secret", "known_secrets"]

_REFERENCE = re.compile(r"^(?P<kind>env|file):(?P<target>.+)$")
_MIN_SECRET_LEN = 4
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


def remember_secret(value: str) -> None:
    """Register a value (and the password inside a DSN) so :func:`redact` removes it."""
    if value and len(value) >= _MIN_SECRET_LEN:
        _known.add(value)
        match = re.match(r"^[a-z][a-z0-9+.-]*://[^:/@]*:(?P<pw>[^@]+)@", value)
        if match and len(match["pw"]) >= _MIN_SECRET_LEN:
            _known.add(match["pw"])


def known_secrets() -> frozenset[str]:
    """Every secret value resolved or registered in this process."""
    return frozenset(_known)


def redact(text: str, extra: frozenset[str] | set[str] = frozenset()) -> str:
    """Replace every known secret value (longest first) with ``[REDACTED]``."""
    for value in sorted(_known | set(extra), key=len, reverse=True):
        if value in text:
            text = text.replace(value, "[REDACTED]")
    return text
