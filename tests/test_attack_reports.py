"""Report folders under attack: killed runners, edited trees, re-hashed manifests, signatures."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runbook_lib import load_run, run_notebooks, verify_run
from runbook_lib.cli import main
from runbook_lib.report_tree import MANIFEST, SEALED_FILE_MODE, UNSEALED_MARKER, manifest_bytes
from tests.nbfactory import write_notebook

READY = "planted-and-sleeping"


@pytest.fixture
def attack_nb_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    value = "k-" + secrets.token_urlsafe(secrets.randbelow(20) + 14)
    monkeypatch.setenv("RUNBOOK_NOTEBOOK_DIR", str(folder))
    monkeypatch.setenv("RB_ATTACK_RUN_KEY", value)
    write_notebook(folder / "sleeper.ipynb", 'api_key: "Secret" = "env:RB_ATTACK_RUN_KEY"  # key',
                   "from runbook_lib import resolve_secret\nprint('key is', resolve_secret(api_key))\n"
                   "print('planted-and-' + 'sleeping')",
                   "import time\ntime.sleep(120)")
    write_notebook(folder / "quick.ipynb", 'x: int = 1  # unused',
                   "from runbook_lib import Check, show_checks\n"
                   "show_checks(Check.passed('q.ok', 'Quick', 'fine'))")
    return folder, value


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _start_runner(out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "runbook_lib", "run", "sleeper", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())


def _wait_until_planted(out: Path, proc: subprocess.Popen, limit_s: float = 120) -> Path:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "runner ended"
        for nb in out.glob("*/sleeper.ipynb"):
            if READY in nb.read_text(errors="replace"):
                return nb.parent
        time.sleep(0.2)
    raise AssertionError("the runner never reached the sleeping cell")


def _kill_tree(proc: subprocess.Popen, sig: int) -> None:
    kids = _children(proc.pid)
    grandkids = [g for k in kids for g in _children(k)]
    proc.send_signal(sig)
    proc.wait(timeout=60)
    for pid in kids + grandkids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _assert_sealed_and_clean(run_dir: Path, value: str) -> None:
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == SEALED_FILE_MODE, path
            assert value not in path.read_text(errors="replace"), path
    assert not (run_dir / UNSEALED_MARKER).exists()
    assert verify_run(run_dir) == []


def test_a_sigkilled_runner_leaves_a_private_folder_that_the_next_command_repairs(attack_nb_dir, tmp_path,
                                                                                  capsys) -> None:
    _, value = attack_nb_dir
    out = tmp_path / "reports"
    with _start_runner(out) as proc:  # the with closes its pipes
        try:
            run_dir = _wait_until_planted(out, proc)
            assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
            for path in run_dir.iterdir():
                assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path  # private while unsealed
            assert (run_dir / UNSEALED_MARKER).is_file()
        finally:
            _kill_tree(proc, signal.SIGKILL)
    assert value in (run_dir / "sleeper.ipynb").read_text()  # what the kill left behind
    assert main(["report", "verify", str(run_dir)]) == 0  # the next command repairs, then verifies
    assert "repaired interrupted run" in capsys.readouterr().err
    record = load_run(run_dir)
    assert (record.verdict, record.exit_code) == ("interrupted", 5)
    assert record.leaks and "stopped before sealing" in (record.interrupted or "")
    _assert_sealed_and_clean(run_dir, value)


def test_report_repair_and_sigterm_seal_as_interrupted(attack_nb_dir, tmp_path, capsys) -> None:
    _, value = attack_nb_dir
    out = tmp_path / "reports"
    with _start_runner(out) as proc:
        try:
            run_dir = _wait_until_planted(out, proc)
        finally:
            _kill_tree(proc, signal.SIGTERM)
        assert proc.returncode == 5, proc.stderr.read().decode() if proc.stderr else ""
    record = load_run(run_dir)
    assert record.verdict == "interrupted" and "SIGTERM" in (record.interrupted or "") and record.leaks
    _assert_sealed_and_clean(run_dir, value)
    assert main(["report", "repair", str(out)]) == 0
    assert "nothing to repair" in capsys.readouterr().out


def test_verify_checks_the_whole_tree(attack_nb_dir, tmp_path) -> None:
    record = run_notebooks(["quick"], out_dir=tmp_path)
    run_dir = record.run_dir
    assert verify_run(run_dir) == []
    (run_dir / "added").mkdir()
    assert any(p.startswith("added: folder added") for p in verify_run(run_dir))
    (run_dir / "added").rmdir()
    marker = run_dir / UNSEALED_MARKER
    marker.write_text("{}")
    marker.chmod(SEALED_FILE_MODE)
    assert any("unsealed marker" in p for p in verify_run(run_dir))
    marker.unlink()
    html = run_dir / "quick.html"
    html.chmod(0o644)
    assert any("quick.html: mode 644" in p for p in verify_run(run_dir))
    html.chmod(SEALED_FILE_MODE)
    log = run_dir / "run.log"
    copy = tmp_path / "run.log.copy"
    copy.write_bytes(log.read_bytes())
    copy.chmod(SEALED_FILE_MODE)
    log.unlink()
    log.symlink_to(copy)  # same bytes, but a symlink
    assert any(p.startswith("run.log: is a symlink") for p in verify_run(run_dir))


def _keypair(tmp_path: Path) -> tuple[Path, Path]:
    key = Ed25519PrivateKey.generate()
    private = tmp_path / "sign.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    private.chmod(0o600)
    public = tmp_path / "sign.pub"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                     serialization.PublicFormat.OpenSSH))
    return private, public


def test_a_consistent_rehash_fails_with_the_public_key_and_show_warns(attack_nb_dir, tmp_path, capsys) -> None:
    private, public = _keypair(tmp_path)
    assert main(["run", "quick", "--out", str(tmp_path / "r"), "--sign-key", str(private)]) == 0
    printed = capsys.readouterr().out
    assert "root digest sha256:" in printed
    run_dir = next((tmp_path / "r").iterdir())
    assert main(["report", "verify", str(run_dir), "--pubkey", str(public)]) == 0
    # the attacker edits the verdict and re-hashes consistently
    run_json = run_dir / "run.json"
    run_json.chmod(0o600)
    run_json.write_text(run_json.read_text().replace('"q.ok"', '"q.forged"'))
    run_json.chmod(SEALED_FILE_MODE)
    manifest = run_dir / MANIFEST
    manifest.chmod(0o600)
    manifest.write_bytes(manifest_bytes(run_dir))
    manifest.chmod(SEALED_FILE_MODE)
    assert verify_run(run_dir) == []  # what no unsigned manifest can catch
    capsys.readouterr()
    assert main(["report", "verify", str(run_dir), "--pubkey", str(public)]) == 1
    assert "signature does not match" in capsys.readouterr().err
    assert main(["report", "show", str(run_dir), "--pubkey", str(public)]) == 1
    captured = capsys.readouterr()
    assert "WARNING" in captured.err and "do not trust" in captured.err and "q.forged" in captured.out
    (tmp_path / "other").mkdir()
    _, other_public = _keypair(tmp_path / "other")
    assert main(["report", "verify", str(run_dir), "--pubkey", str(other_public)]) == 1


def test_a_readable_sign_key_is_refused_before_anything_runs(attack_nb_dir, tmp_path, capsys) -> None:
    private, _ = _keypair(tmp_path)
    private.chmod(0o644)
    assert main(["run", "quick", "--out", str(tmp_path / "r"), "--sign-key", str(private)]) == 3
    assert "chmod 600" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_an_unwritable_out_is_a_usage_error(attack_nb_dir, tmp_path, capsys) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    assert main(["run", "quick", "--out", str(blocker / "reports")]) == 3
    err = capsys.readouterr().err
    assert "cannot create the report folder" in err and "Traceback" not in err


def test_sigterm_leaves_no_kernel_behind(attack_nb_dir, tmp_path) -> None:
    with _start_runner(tmp_path / "reports") as proc:
        try:
            _wait_until_planted(tmp_path / "reports", proc)
            kernels = _children(proc.pid)
            assert kernels, "the runner started no kernel"
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(Path(f"/proc/{k}").exists() for k in kernels):
                time.sleep(0.2)
            alive = [k for k in kernels if Path(f"/proc/{k}").exists()
                     and "Z" not in (Path(f"/proc/{k}/stat").read_text().rsplit(")", 1)[1].split()[0])]
            assert not alive, f"kernel processes left running: {alive}"
        finally:
            if proc.poll() is None:
                _kill_tree(proc, signal.SIGKILL)


def test_repair_without_the_secret_scans_for_shapes_and_says_so(tmp_path) -> None:
    from runbook_lib.interrupted import write_marker

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run_dir = tmp_path / "reports" / f"20260101T000000Z-{secrets.token_hex(4)}"
    run_dir.mkdir(parents=True)
    write_marker(run_dir, run_id=run_dir.name[-8:], started_at="2026-01-01T00:00:00Z", notebooks=["gone"],
                 secret_references=["env:RB_ATTACK_NEVER_SET"], pid=dead.pid)  # a runner that is gone
    token = f"sk-{secrets.token_urlsafe(20)}"
    dsn_pw = secrets.token_urlsafe(14)
    (run_dir / "run.log").write_text(f"key {token}\nvia postgresql://app:{dsn_pw}@db:5432/x\n")
    (run_dir / "run.log").chmod(0o644)
    assert main(["report", "repair", str(tmp_path / "reports")]) == 0
    record = load_run(run_dir)
    assert record.verdict == "interrupted" and record.exit_code == 5
    assert any("RB_ATTACK_NEVER_SET" in note and "token shapes" in note for note in record.notes)
    text = (run_dir / "run.log").read_text()
    assert token not in text and dsn_pw not in text
    _assert_sealed_and_clean(run_dir, token)
