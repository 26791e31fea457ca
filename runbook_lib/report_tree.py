"""The file tree of a report folder: private while a run writes it, sealed and checkable afterwards.

While a run writes, the folder is ``0700`` and its files ``0600`` (nobody else can read a secret the
scan has not removed yet), and :data:`UNSEALED_MARKER` says which process owns it. Sealing writes
``SHA256SUMS`` over every regular file of the whole tree (relative paths), makes files ``0400`` and
folders ``0700``, and removes the marker. :func:`verify_tree` checks the whole tree against that:
contents, added or missing files, added folders, file modes and file types (a symlink, a FIFO).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

__all__ = [
    "MANIFEST",
    "SEALED_DIR_MODE",
    "SEALED_FILE_MODE",
    "SIGNATURE",
    "UNSEALED_MARKER",
    "artifact_files",
    "manifest_bytes",
    "seal_tree",
    "sha256_file",
    "verify_tree",
]

MANIFEST = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.sig"
UNSEALED_MARKER = ".unsealed.json"
SEALED_FILE_MODE = 0o400
SEALED_DIR_MODE = 0o700
_NOT_LISTED = {MANIFEST, SIGNATURE, UNSEALED_MARKER}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _entries(run_dir: Path) -> list[tuple[str, os.stat_result]]:
    """Every entry below ``run_dir`` as (relative posix path, lstat), symlinks not followed."""
    found = []
    for root, dirs, files in os.walk(run_dir, followlinks=False):
        for name in sorted(dirs) + sorted(files):
            path = Path(root) / name
            found.append((path.relative_to(run_dir).as_posix(), path.lstat()))
    return sorted(found)


def artifact_files(run_dir: Path) -> list[Path]:
    """Regular files a run wrote (whole tree), without the manifest, signature and marker."""
    return [run_dir / rel for rel, st in _entries(run_dir)
            if stat.S_ISREG(st.st_mode) and rel not in _NOT_LISTED]


def manifest_bytes(run_dir: Path) -> bytes:
    lines = [f"{sha256_file(path)}  {path.relative_to(run_dir).as_posix()}\n" for path in artifact_files(run_dir)]
    return "".join(lines).encode("utf-8")


def seal_tree(run_dir: Path) -> None:
    """Drop empty folders and anything that is not a regular file or folder, write the manifest,
    then make files read-only for the owner and folders private."""
    for rel, st in reversed(_entries(run_dir)):
        path = run_dir / rel
        if stat.S_ISDIR(st.st_mode):
            if not any(path.iterdir()):
                path.rmdir()
        elif not stat.S_ISREG(st.st_mode):
            path.unlink()
    manifest = run_dir / MANIFEST
    if manifest.exists():
        manifest.chmod(0o600)
    manifest.write_bytes(manifest_bytes(run_dir))
    for rel, st in _entries(run_dir):
        (run_dir / rel).chmod(SEALED_DIR_MODE if stat.S_ISDIR(st.st_mode) else SEALED_FILE_MODE)
    run_dir.chmod(SEALED_DIR_MODE)


def _read_manifest(path: Path) -> dict[str, str]:
    listed: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    return listed


def verify_tree(run_dir: Path) -> list[str]:
    """Problems with the tree (each naming a path); empty when it is exactly as sealed."""
    manifest = run_dir / MANIFEST
    if not manifest.is_file() or manifest.is_symlink():
        return [f"{MANIFEST}: missing"]
    listed = _read_manifest(manifest)
    expected_dirs = {p.as_posix() for name in listed for p in Path(name).parents if p.as_posix() != "."}
    problems: list[str] = []
    root_mode = stat.S_IMODE(run_dir.lstat().st_mode)
    if root_mode != SEALED_DIR_MODE:
        problems.append(f".: folder mode {root_mode:o}, sealed as {SEALED_DIR_MODE:o}")
    present: set[str] = set()
    for rel, st in _entries(run_dir):
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            problems.append(f"{rel}: is a symlink (sealed reports hold regular files only)")
        elif stat.S_ISDIR(st.st_mode):
            if rel not in expected_dirs:
                problems.append(f"{rel}: folder added after the run")
            elif mode != SEALED_DIR_MODE:
                problems.append(f"{rel}: folder mode {mode:o}, sealed as {SEALED_DIR_MODE:o}")
        elif not stat.S_ISREG(st.st_mode):
            problems.append(f"{rel}: not a regular file")
        else:
            if rel == UNSEALED_MARKER:
                problems.append(f"{rel}: the unsealed marker is still present")
            if mode != SEALED_FILE_MODE:
                problems.append(f"{rel}: mode {mode:o}, sealed as {SEALED_FILE_MODE:o}")
            if rel not in _NOT_LISTED:
                present.add(rel)
                if rel not in listed:
                    problems.append(f"{rel}: added after the run")
                elif sha256_file(run_dir / rel) != listed[rel]:
                    problems.append(f"{rel}: changed (sha256 differs from {MANIFEST})")
    problems += [f"{name}: missing" for name in sorted(set(listed) - present)
                 if not (run_dir / name).is_symlink()]
    return problems
