"""The live schema level of a sandbox's database, read with the drift code of 10_migration.

``sandbox status`` shows it beside the level the sandbox was started at, so a repaired (or hand-edited)
database is reported as it is, not as it was created.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import RunbookError

__all__ = ["live_schema"]


def live_schema(state: dict[str, Any]) -> dict[str, Any]:
    """``{"clean": bool, "differ": n, "sentence": ...}`` from the running database, or
    ``{"error": message}`` when it cannot be read (the sandbox is down, the DSN file is gone)."""
    from ..db.drift import drift_report

    dsn_file = (state.get("secret_files") or {}).get("database_url")
    if not dsn_file or not Path(dsn_file).is_file():
        return {"error": "no database_url secret in the sandbox state"}
    try:
        report = drift_report(f"file:{dsn_file}", connect_timeout=5)
    except RunbookError as exc:
        return {"error": exc.message}
    return {"clean": report.clean, "differ": len(report.findings), "sentence": report.level_sentence,
            "missing_versions": report.missing_versions()}
