"""Write the corrected LiteLLM config next to the original (never over it) and describe the change."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..checks import Check, Severity
from ..commands import run_command
from ..errors import ConfigError
from .config_lint import LoadedConfig, config_diff, corrected_config, corrected_path, parse_yaml, write_corrected

__all__ = ["Correction", "correct_config"]


@dataclass(frozen=True)
class Correction:
    """The outcome: a check, the unified diff (secrets redacted) and the file written, if any."""

    check: Check
    diff: str
    written: Path | None


def correct_config(loaded: LoadedConfig, *, apply: bool = False) -> Correction:
    """Compute the corrected config; with ``apply`` write it as ``<name>.corrected.yaml`` beside
    the original. The original file is never modified."""
    cid, title = "config.corrected", "Corrected config"
    if loaded.doc is None or loaded.path is None:  # not loaded.ok, or no file
        return Correction(Check.skipped(cid, title, "no parsed config file to correct"), "", None)
    corrected = corrected_config(loaded.doc, source_name=loaded.path.name, original_text=loaded.text)
    target_name = corrected_path(loaded.path).name
    diff = config_diff(loaded.text, corrected, from_name=loaded.path.name, to_name=target_name, doc=loaded.doc)
    if parse_yaml(corrected)[0] == loaded.doc:  # compare meaning, not formatting
        return Correction(Check.passed(cid, title, "the config needs no correction; nothing written",
                                       severity=Severity.MINOR), "", None)
    if not apply:
        write = run_command("00_setup", apply=True)
        return Correction(Check.skipped(cid, title, f"report only: `{write}` writes {target_name} next to the "
                                        "original", evidence={"would_write": target_name}), diff, None)
    try:
        written = write_corrected(loaded.path, corrected)
    except (OSError, ConfigError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        return Correction(Check.failed(cid, title, f"could not write the corrected config: {reason}",
                                       remedy="make the config's folder writable, or copy the diff by hand",
                                       severity=Severity.MINOR), diff, None)
    return Correction(Check.passed(
        cid, title, f"wrote {written.name} next to {loaded.path.name} (original unchanged); review it, then"
        " swap it in and restart (rebuild the image if the config is baked in)",
        severity=Severity.MINOR, evidence={"written": str(written), "original": str(loaded.path)}), diff, written)
