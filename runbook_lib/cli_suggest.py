""""Did you mean ...?" for names a user typed (notebooks, parameters), as git and kubectl answer."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean", "closest"]


def closest(word: str, choices: Iterable[str], *, limit: int = 3, cutoff: float = 0.6) -> list[str]:
    """The known names closest to ``word`` (best first; empty when none is close)."""
    options = sorted(set(choices))
    lowered = {o.lower(): o for o in options}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=limit, cutoff=cutoff)
    # a name that contains what was typed (``migration`` -> ``10_migration``) is close too
    found += [o for o in lowered if word and word.lower() in o and o not in found]
    return [lowered[f] for f in found][:limit]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean X?)`` or `` (did you mean X or Y?)``, or ``""`` when nothing is close."""
    near = closest(word, choices)
    if not near:
        return ""
    return f" (did you mean {' or '.join(near)}?)"
