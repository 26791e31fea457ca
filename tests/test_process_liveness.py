"""Process liveness through psutil: sandbox pids (``processes.is_running``) and unsealed-folder owners."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from runbook_lib.interrupted import is_unsealed, write_marker
from runbook_lib.report_tree import UNSEALED_MARKER
from runbook_lib.sandbox.processes import is_running

SLEEPER = "import time; time.sleep(600)  # liveness-test-sleeper"


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _zombie() -> subprocess.Popen[bytes]:
    """A child that has exited and was not waited for (a zombie until someone reaps it)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    for _ in range(400):  # polls until the exit shows, without reaping it
        if psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE:
            return proc
        time.sleep(0.05)
    raise AssertionError(f"child {proc.pid} did not exit")


def _gone_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_is_running_sees_a_live_process_and_checks_its_command_line(sleeper) -> None:
    assert is_running(sleeper.pid)
    assert is_running(sleeper.pid, expect="liveness-test-sleeper")
    assert not is_running(sleeper.pid, expect="runbook_lib.sandbox.trace_store_server")  # a recycled pid


def test_is_running_says_no_for_gone_and_impossible_pids() -> None:
    assert not is_running(_gone_pid())
    assert not any(is_running(pid) for pid in (None, 0, -1))


def test_is_running_reaps_our_own_exited_child() -> None:
    proc = _zombie()
    assert not is_running(proc.pid)
    assert not psutil.pid_exists(proc.pid) or psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE
    proc.wait()


def _run_dir(parent: Path, pid: int) -> Path:
    run_dir = parent / "20260101T000000Z-0123abcd"
    run_dir.mkdir(parents=True)
    write_marker(run_dir, run_id="0123abcd", started_at="2026-01-01T00:00:00Z", notebooks=["x"],
                 secret_references=[], pid=pid)
    return run_dir


def _edit_marker(run_dir: Path, **changes: object) -> None:
    marker = run_dir / UNSEALED_MARKER
    data = json.loads(marker.read_text())
    data.update(changes)
    marker.write_text(json.dumps(data))


def test_a_running_owner_keeps_its_folder_unsealed_but_not_repairable(tmp_path, sleeper) -> None:
    run_dir = _run_dir(tmp_path, sleeper.pid)
    recorded = json.loads((run_dir / UNSEALED_MARKER).read_text())
    assert recorded["process_created"] == f"{psutil.Process(sleeper.pid).create_time():.2f}"
    assert not is_unsealed(run_dir)


def test_a_reused_pid_does_not_keep_the_folder(tmp_path, sleeper) -> None:
    run_dir = _run_dir(tmp_path, sleeper.pid)
    started = float(json.loads((run_dir / UNSEALED_MARKER).read_text())["process_created"])
    _edit_marker(run_dir, process_created=f"{started - 3600:.2f}")  # the pid now belongs to a later process
    assert is_unsealed(run_dir)


def test_a_gone_or_zombie_owner_leaves_the_folder_to_repair(tmp_path) -> None:
    assert is_unsealed(_run_dir(tmp_path / "gone", _gone_pid()))
    zombie = _zombie()
    try:
        assert is_unsealed(_run_dir(tmp_path / "zombie", zombie.pid))
    finally:
        zombie.wait()


def test_a_marker_of_an_earlier_version_is_judged_by_its_pid(tmp_path, sleeper) -> None:
    run_dir = _run_dir(tmp_path, sleeper.pid)
    marker = run_dir / UNSEALED_MARKER
    data = json.loads(marker.read_text())
    data["process_start"] = "123456"  # kernel ticks, as earlier versions wrote
    del data["process_created"]
    marker.write_text(json.dumps(data))
    assert not is_unsealed(run_dir)
    sleeper.kill()
    sleeper.wait()
    assert is_unsealed(run_dir)


def test_a_caller_may_keep_only_the_pid_of_a_spawned_process(tmp_path) -> None:
    """The sandbox's state file keeps pids: dropping the Popen must not warn, stop_pid still reaps it."""
    import gc
    import warnings

    from runbook_lib.sandbox.processes import spawn_module, stop_pid

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pid = spawn_module("timeit", ["-n", "1", "-r", "1", "import time; time.sleep(600)"],
                           log_path=tmp_path / "sleeper.log").pid
        gc.collect()
        assert is_running(pid, expect="timeit")
        assert stop_pid(pid, grace_s=5)
        gc.collect()
    assert not is_running(pid)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # reaped
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_a_spawned_process_is_reaped_whenever_it_reads_as_not_running(tmp_path) -> None:
    """A process that exits while is_running looks at it must not stay a zombie: polling until it reads as
    not running, then finding it unreaped, was the race behind "subprocess N is still running" at exit."""
    from runbook_lib.sandbox import processes

    unreaped = []
    for i in range(12):
        proc = processes.spawn_module("timeit", ["-n", "1", "-r", "1", "pass"], log_path=tmp_path / f"{i}.log")
        while processes.is_running(proc.pid):
            pass
        if proc.returncode is None:
            unreaped.append(proc.pid)
        proc.wait()
    assert unreaped == []
