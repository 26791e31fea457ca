"""Show a section's checks in the notebook without recording them (the summary records them once)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from ..checks import Check, checks_table
from ..secrets import redact

__all__ = ["show_checks", "show_text"]


def show_checks(checks: Sequence[Check], title: str | None = None) -> None:
    """A table of ``checks`` for reading along; ``display_checks`` in the summary is what the
    runner records (showing them here with that mime type would count them twice)."""
    from IPython.display import display

    heading = f"<h4>{html.escape(title)}</h4>" if title else ""
    plain = "\n".join(f"{c.status.symbol} {c.status.value:5} {c.id}: {c.summary}" for c in checks)
    display({"text/plain": redact(plain), "text/html": redact(heading + checks_table(list(checks)))}, raw=True)


def show_text(text: str, title: str | None = None) -> None:
    """Preformatted text (a YAML snippet, a diff), secrets redacted."""
    from IPython.display import display

    heading = f"<h4>{html.escape(title)}</h4>" if title else ""
    body = redact(text)
    display({"text/plain": (f"{title}\n" if title else "") + body,
             "text/html": f"{heading}<pre>{html.escape(body)}</pre>"}, raw=True)
