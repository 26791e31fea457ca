"""Start, watch and stop the sandbox's server processes.

Every sandbox service runs as ``python -m <module> ...`` in its own session (so its pid is also its
process-group id), with stdout and stderr appended to one log file. The helpers here are what the
sandbox launcher and the test fixtures share:

- :func:`spawn_module` starts ``sys.executable -m module *args`` detached from the terminal;
- :func:`wait_for_http` polls a URL until it answers, or raises :class:`SandboxError` with the log tail
  when the deadline passes or the process exits first;
- :func:`stop_pid` sends SIGTERM to the process group, then SIGKILL after a grace period;
- :func:`is_running` tells whether a pid is alive (not a zombie), optionally checking its command line
  so that a recycled pid from an old state file is never mistaken for ours;
- :func:`free_port` picks a free TCP port on 127.0.0.1.

Secrets never go on a command line (``ps`` shows it): pass them as files or environment variables.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from ..errors import SandboxError
from ..secrets import redact

__all__ = ["free_port", "is_running", "log_tail", "spawn_module", "stop_pid", "wait_for_http"]

#: The processes :func:`spawn_module` started that have not been seen to exit, by pid. Callers may keep only
#: the pid (the sandbox's state file does): the Popen stays here until :func:`is_running` or :func:`stop_pid`
#: reaps it, instead of being collected while its process runs ("subprocess N is still running").
_SPAWNED: dict[int, subprocess.Popen[bytes]] = {}


#: How long :func:`is_running` waits for a child of ours it saw exiting, so its exit status is collected.
_EXIT_WAIT_S = 1.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def spawn_module(
    module: str,
    args: Sequence[str] = (),
    *,
    log_path: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    python: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``python -m module *args`` in a new session, output appended to ``log_path``.

    ``env`` is merged over the current environment. The returned process keeps running after the
    caller exits; stop it with :func:`stop_pid` (its pid is also its process-group id).
    """
    log = Path(log_path)
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    with open(log, "ab") as out:
        try:
            process = subprocess.Popen(
                [python or sys.executable, "-m", module, *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise SandboxError(
                f"could not start {module} ({exc.strerror or exc.__class__.__name__})",
                hint="check that the sandbox extra is installed in this Python environment",
            ) from None
    _SPAWNED[process.pid] = process
    return process


def log_tail(log_path: str | os.PathLike[str] | None, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, secrets redacted; empty when there is no log."""
    if log_path is None:
        return ""
    try:
        text = Path(log_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return redact("\n".join(text.splitlines()[-lines:]))


def wait_for_http(
    url: str,
    *,
    deadline_s: float = 30.0,
    process: subprocess.Popen[bytes] | None = None,
    pid: int | None = None,
    log_path: str | os.PathLike[str] | None = None,
    name: str | None = None,
    interval_s: float = 0.05,
) -> float:
    """Poll ``url`` (GET) until it answers with any HTTP status below 500; return the seconds waited.

    Raises :class:`SandboxError` with the tail of ``log_path`` when the process (given as ``process``
    or ``pid``) exits first or ``deadline_s`` passes.
    """
    label = name or url
    start = time.monotonic()
    delay = interval_s
    while True:
        exit_code = _exit_code(process, pid)
        if exit_code is not None:
            raise SandboxError(
                f"{label} exited with code {exit_code} before it answered on {url}",
                hint=_hint_with_log(log_path, "read the log below; a port conflict or a bad option are "
                                    "the usual causes"),
            )
        try:
            with urllib.request.urlopen(url, timeout=2.0) as resp:  # noqa: S310 (127.0.0.1 only)
                if resp.status < 500:
                    return time.monotonic() - start
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return time.monotonic() - start
        except (OSError, ValueError):
            pass
        if time.monotonic() - start > deadline_s:
            raise SandboxError(
                f"{label} did not answer on {url} within {deadline_s:g} s",
                hint=_hint_with_log(log_path, "the machine may be overloaded (raise the deadline) or the "
                                    "service hangs at start-up; read its log"),
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def _exit_code(process: subprocess.Popen[bytes] | None, pid: int | None) -> int | None:
    if process is not None:
        return process.poll()
    if pid is not None and not is_running(pid):
        return -1
    return None


def _hint_with_log(log_path: str | os.PathLike[str] | None, hint: str) -> str:
    tail = log_tail(log_path)
    if not tail:
        return hint
    lines = "\n".join(f"    {line}" for line in tail.splitlines())
    return f"{hint}\n  log {log_path} (last lines):\n{lines}"


def is_running(pid: int | None, *, expect: str | None = None) -> bool:
    """True when ``pid`` is alive and not a zombie; with ``expect``, its command line must contain it.

    A process this user may not inspect counts as not running (it is not one we started).
    """
    if not pid or pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
        alive = proc.status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
        if alive:
            return expect is None or expect in " ".join(proc.cmdline())
    except psutil.Error:  # gone (NoSuchProcess, ZombieProcess) or not ours to inspect (AccessDenied)
        pass
    # looked at first, reaped after: a process that exits between the two is still collected
    _reap(pid)
    return False


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our own finished child (so it stops being a zombie)."""
    spawned = _SPAWNED.get(pid)
    if spawned is not None:
        # it was seen not alive, yet it may still be on its way out (poll() would find nothing to reap yet
        # and it would stay a zombie): wait for it, briefly (a pid reaped elsewhere reads as exit code 0)
        with contextlib.suppress(subprocess.TimeoutExpired):
            spawned.wait(timeout=_EXIT_WAIT_S)
            _SPAWNED.pop(pid, None)
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_pid(pid: int | None, *, grace_s: float = 5.0, expect: str | None = None) -> bool:
    """Stop ``pid`` and its process group: SIGTERM, then SIGKILL after ``grace_s``.

    Returns True when something was stopped, False when it was not running (or, with ``expect``, is a
    different program now). Only signals the given pid and the group it leads.
    """
    if not is_running(pid, expect=expect):
        return False
    assert pid is not None
    leads_group = _leads_group(pid)
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not is_running(pid):
            if leads_group:
                _signal_group_only(pid, signal.SIGKILL)  # children the leader left behind, if any
            return True
        time.sleep(0.05)
    _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if is_running(pid):
        raise SandboxError(f"process {pid} did not stop after SIGKILL", hint="check it with ps and stop it")
    return True


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except (ProcessLookupError, PermissionError):
        return False


def _signal(pid: int, sig: signal.Signals) -> None:
    """Signal the group ``pid`` leads if it leads one (our spawn does), else the pid alone."""
    if _leads_group(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _signal_group_only(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
