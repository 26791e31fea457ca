"""Show a section's checks in the notebook without recording them (the summary records them once)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from ..checks import Check, display_checks
from ..secrets import redact

__all__ = ["show_checks", "show_text"]


def show_checks(checks: Sequence[Check], title: str | None = None) -> None:
    """A table of ``checks`` for reading along; ``display_checks`` in the summary is what the
    runner records (recording them here too would count them twice)."""
    display_checks(checks, title, record=False)


def show_text(text: str, title: str | None = None) -> None:
    """Preformatted text (a YAML snippet, a diff), secrets redacted."""
    from IPython.display import display

    heading = f"<h4>{html.escape(title)}</h4>" if title else ""
    body = redact(text)
    display({"text/plain": (f"{title}\n" if title else "") + body,
             "text/html": f"{heading}<pre>{html.escape(body)}</pre>"}, raw=True)
