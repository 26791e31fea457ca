"""Keep tracked notebooks free of saved outputs: a git clean filter (``make lab`` installs it).

``python -m runbook_lib.strip_outputs`` reads a notebook on stdin and writes it on stdout without
outputs, execution counts or per-run metadata, in the layout the stored notebooks use (so a notebook
that has none is passed through byte for byte). With file arguments it strips them in place, and with
``--check`` it only reports the files that hold outputs (exit 1), for CI.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["GIT_FILTER", "has_outputs", "main", "strip_notebook", "strip_text"]

#: The filter's name in ``.gitattributes`` and ``git config filter.<name>.clean``.
GIT_FILTER = "runbook-strip-outputs"
_RUN_METADATA = ("execution", "collapsed", "scrolled")


def strip_notebook(nb: dict[str, Any]) -> dict[str, Any]:
    """``nb`` without outputs and execution counts (in place); returned for convenience."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        for key in _RUN_METADATA:
            cell.get("metadata", {}).pop(key, None)
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def has_outputs(nb: dict[str, Any]) -> bool:
    return any(c.get("outputs") or c.get("execution_count") is not None
               for c in nb.get("cells", []) if c.get("cell_type") == "code")


def strip_text(text: str) -> str:
    """The stripped notebook as text (``indent=1``, as nbformat writes it); non-JSON passes unchanged."""
    try:
        nb = json.loads(text)
    except ValueError:
        return text
    if not isinstance(nb, dict):
        return text
    return json.dumps(strip_notebook(nb), indent=1, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    files = [a for a in args if a != "--check"]
    if not files:
        sys.stdout.write(strip_text(sys.stdin.read()))
        return 0
    dirty = []
    for name in files:
        path = Path(name)
        text = path.read_text(encoding="utf-8")
        if has_outputs(json.loads(text)):
            dirty.append(name)
            if not check:
                path.write_text(strip_text(text), encoding="utf-8")
    for name in dirty:
        print(f"{'has saved outputs' if check else 'stripped'}: {name}", file=sys.stderr)
    return 1 if check and dirty else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
