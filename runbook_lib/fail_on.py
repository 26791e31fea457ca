"""``--fail-on``: how strict the exit code of a run is (CI users fail on warnings with ``warn``)."""

from __future__ import annotations

from .record import RunRecord

__all__ = ["FAIL_ON_LEVELS", "exit_code_for", "strict_note"]

#: ``fail`` (default): checks that failed or errored fail the run. ``warn`` (``--strict``): warnings
#: fail it too (exit code 1), and so does a notebook that checked nothing (``incomplete``).
FAIL_ON_LEVELS = ("fail", "warn")


def _warnings(record: RunRecord) -> list[str]:
    return [f"{nb.name}/{c['id']}" for nb in record.notebooks for c in nb.checks if c.get("status") == "warn"]


def exit_code_for(record: RunRecord, fail_on: str = "fail") -> int:
    """The run's exit code under ``fail_on``; the record (and its ``run.json``) is left as it is."""
    if fail_on == "warn" and record.exit_code in (0, 6) and (_warnings(record) or record.exit_code == 6):
        return 1
    return record.exit_code


def strict_note(record: RunRecord, fail_on: str = "fail") -> str | None:
    """The line saying why ``--fail-on warn`` changed the exit code, or None when it did not."""
    if exit_code_for(record, fail_on) == record.exit_code:
        return None
    why = f"{len(_warnings(record))} warning(s)" if _warnings(record) else "a notebook checked nothing"
    return f"--fail-on warn: exit code 1 because of {why} (the report's verdict stays {record.verdict})"
