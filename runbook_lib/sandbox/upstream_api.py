"""Run the real AgentOps API from a user's checkout ("real mode" of the sandbox).

- :func:`check_checkout` says whether a folder is an AgentOps checkout (``app/api/uv.lock``, the
  ``agentops`` package, ``app/clickhouse/migrations``) before anything starts;
- :func:`find_python312` finds a Python 3.12 on the machine (upstream pins ``>=3.12,<3.13``);
- :func:`build_venv` builds, once per ``app/api/uv.lock`` content, a virtual environment with the
  API's third-party dependencies from its own lock file (``uv export`` + ``uv pip install``), cached
  under ``$XDG_CACHE_HOME/agentops-runbooks/upstream-api/<sha256(uv.lock)[:16]>/``; built in a temp folder
  and renamed into place under a file lock, so two builds never collide and a half-built one is never used;
- :func:`api_env` is the environment the API reads (PostgreSQL as ``SUPABASE_*``, the trace store as
  ``CLICKHOUSE_*``, the JWT secret, local domains, dummies for what it needs but the sandbox does not have);
- :func:`api_command` is the command line (``python -m uvicorn agentops.app:app`` on 127.0.0.1), run with
  :data:`API_DIR` of the checkout as the working directory: ``agentops`` and ``jockey`` import from the
  checkout itself, which may be read-only: bytecode goes to the cache (``PYTHONPYCACHEPREFIX``), compiled
  once at build time, which halves the API's start-up.

Nothing secret goes on a command line: the API takes its secrets from the environment.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import SandboxError, UsageError

__all__ = [
    "API_APP",
    "API_DIR",
    "LOCK_FILE",
    "BadCheckout",
    "api_command",
    "api_env",
    "build_venv",
    "cache_root",
    "check_checkout",
    "checkout_commit",
    "find_python312",
    "find_uv",
    "lock_key",
    "pycache_dir",
    "venv_python",
]

#: The API's folder inside a checkout, its lock file and its ASGI application.
API_DIR = Path("app") / "api"
LOCK_FILE = API_DIR / "uv.lock"
API_APP = "agentops.app:app"
MIGRATIONS_DIR = Path("app") / "clickhouse" / "migrations"
#: Where a checkout must have what the sandbox uses (path, what it is).
REQUIRED = ((LOCK_FILE, "the API's lock file"), (API_DIR / "agentops", "the API package"),
            (MIGRATIONS_DIR, "the ClickHouse migrations"))
INSTALL_PYTHON_HINT = ("install Python 3.12: `apt-get install python3.12`, `pyenv install 3.12` or "
                       "`uv python install 3.12` (or point AGENTOPS_PYTHON at a python3.12)")
COMPLETE_MARK = ".complete"

Progress = Callable[[str], None]


class BadCheckout(SandboxError, UsageError):
    """The folder given as the AgentOps checkout is not one (a usage error: exit code 3)."""

    exit_code = 3


def check_checkout(src: str | os.PathLike[str]) -> Path:
    """The absolute checkout path, or BadCheckout naming what is missing."""
    root = Path(src).expanduser().absolute()
    if not root.is_dir():
        raise BadCheckout(f"AgentOps checkout {root} does not exist",
                          hint="pass --agentops-src (or AGENTOPS_SRC) pointing at a clone of AgentOps-AI/agentops")
    missing = [f"{path} ({what})" for path, what in REQUIRED if not (root / path).exists()]
    if missing:
        raise BadCheckout(f"{root} is not an AgentOps checkout: missing {', '.join(missing)}",
                          hint="pass the repository root (the folder holding app/api and app/clickhouse)")
    return root


def checkout_commit(src: str | os.PathLike[str]) -> str | None:
    """``git rev-parse HEAD`` of the checkout when it is a git work tree, else None."""
    root = Path(src)
    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else None


def _python_version(python: str) -> tuple[int, int] | None:
    try:
        done = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    major, _, minor = done.stdout.strip().partition(".")
    return (int(major), int(minor)) if done.returncode == 0 and major.isdigit() and minor.isdigit() else None


def _candidates() -> list[str]:
    """AGENTOPS_PYTHON alone when set (an explicit choice), else every place a Python 3.12 may be."""
    if os.environ.get("AGENTOPS_PYTHON"):
        return [os.environ["AGENTOPS_PYTHON"]]
    found: list[str] = []
    if sys.version_info[:2] == (3, 12):
        found.append(sys.executable)
    for name in ("python3.12",):
        path = shutil.which(name)
        if path:
            found.append(path)
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found += [str(p) for p in sorted((pyenv_root / "versions").glob("3.12*/bin/python3.12"), reverse=True)]
    uv = find_uv(required=False)
    if uv:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            done = subprocess.run([uv, "python", "find", "--no-python-downloads", "3.12"], capture_output=True,
                                  text=True, timeout=20, check=False)
            if done.returncode == 0 and done.stdout.strip():
                found.append(done.stdout.strip())
    return found


def find_python312(candidates: Sequence[str] | None = None) -> str:
    """The first Python 3.12 among ``candidates`` (default: AGENTOPS_PYTHON alone when set, else this
    interpreter, ``python3.12`` on PATH, pyenv versions, ``uv python find``); SandboxError saying what to
    install when there is none."""
    tried: list[str] = []
    for python in candidates if candidates is not None else _candidates():
        if python in tried:
            continue
        tried.append(python)
        if _python_version(python) == (3, 12):
            return python
    raise SandboxError("real mode needs a Python 3.12 for the AgentOps API, and none was found"
                       + (f" (tried {', '.join(tried)})" if tried else ""), hint=INSTALL_PYTHON_HINT)


def find_uv(*, required: bool = True) -> str | None:
    """The ``uv`` beside this interpreter (the Makefile installs it into .venv) or on PATH."""
    here = Path(sys.executable).with_name("uv")
    if here.exists():
        return str(here)
    found = shutil.which("uv")
    if found or not required:
        return found
    raise SandboxError("real mode needs `uv` to install the AgentOps API's locked dependencies",
                       hint="pip install uv (the Makefile installs it into .venv)")


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/agentops-runbooks/upstream-api`` (``~/.cache`` when XDG_CACHE_HOME is unset)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "agentops-runbooks" / "upstream-api"


def lock_key(src: str | os.PathLike[str]) -> str:
    """The first 16 hex digits of the SHA-256 of the checkout's ``app/api/uv.lock``."""
    return hashlib.sha256((Path(src) / LOCK_FILE).read_bytes()).hexdigest()[:16]


def venv_python(venv: str | os.PathLike[str]) -> Path:
    return Path(venv) / "bin" / "python"


def build_venv(
    src: str | os.PathLike[str],
    *,
    python: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> Path:
    """The cached virtual environment for the checkout's ``app/api/uv.lock``, built when missing.

    ``python`` defaults to :func:`find_python312`. The first build installs from uv's cache when it can
    (offline) and from the package index otherwise. Returns the venv folder.
    """
    say = progress or (lambda _msg: None)
    root = check_checkout(src)
    base = Path(cache_dir) if cache_dir else cache_root()
    target = base / lock_key(root)
    if (target / COMPLETE_MARK).exists():
        if not pycache_dir(target).exists():  # built before bytecode was cached
            _compile_bytecode(target, root)
        return target
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f"{target.name}.lock", "a+") as lock:  # one build per key at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / COMPLETE_MARK).exists():  # another process built it while we waited
            return target
        python = python or find_python312()
        uv = find_uv()
        assert uv is not None
        say(f"building the AgentOps API environment for {root} (once per uv.lock) ...")
        started = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f".build-{target.name}-", dir=base))
        try:
            requirements = work / "requirements.txt"
            exported = _run([uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project",
                             "--no-emit-local", "--quiet"], cwd=root / API_DIR, what="export the API's lock file")
            requirements.write_text(exported, encoding="utf-8")
            venv = work / "venv"
            _run([uv, "venv", "--quiet", "--relocatable", "--python", python, str(venv)], cwd=work,
                 what="create the virtual environment")
            install = [uv, "pip", "install", "--quiet", "--python", str(venv_python(venv)), "-r", str(requirements)]
            try:
                _run([*install, "--offline"], cwd=work, what="install the API's dependencies from uv's cache")
            except SandboxError:
                say("  not all packages are in uv's cache; downloading them from the package index")
                _run(install, cwd=work, what="install the API's dependencies")
            if target.exists():  # a half-built leftover without the mark
                shutil.rmtree(target)
            (work / "venv").rename(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _compile_bytecode(target, root)
        (target / COMPLETE_MARK).write_text(f"built from {root / LOCK_FILE}\n", encoding="utf-8")
        say(f"  built in {time.monotonic() - started:.1f} s: {target}")
    return target


def _compile_bytecode(venv: Path, root: Path) -> None:
    """Bytecode for the venv and the checkout's API packages, in :func:`pycache_dir` (never in the checkout):
    halves the API's start-up. Best effort: a file that does not compile is compiled (and fails) at import."""
    _run([str(venv_python(venv)), "-m", "compileall", "-q", "-j", "0", str(venv / "lib"),
          str(root / API_DIR / "agentops"), str(root / API_DIR / "jockey")], cwd=venv,
         what="compile the API's bytecode", env={"PYTHONPYCACHEPREFIX": str(pycache_dir(venv))}, check=False)


def pycache_dir(venv: str | os.PathLike[str]) -> Path:
    """Where the API's bytecode lives (``PYTHONPYCACHEPREFIX``), beside the venv: the checkout may be read-only."""
    return Path(venv) / "pycache"


def _run(cmd: list[str], *, cwd: Path, what: str, env: Mapping[str, str] | None = None, check: bool = True) -> str:
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT")}
    full_env.update(env or {})
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=full_env, check=False, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"could not {what} ({exc.__class__.__name__})",
                           hint="check that uv works: uv --version") from None
    if done.returncode != 0 and check:
        tail = "\n".join(f"    {line}" for line in (done.stderr or done.stdout).strip().splitlines()[-15:])
        raise SandboxError(f"could not {what} (`{' '.join(cmd[:3])}` exited with {done.returncode})",
                           hint=f"read uv's message:\n{tail}")
    return done.stdout


def api_env(
    *,
    venv: str | os.PathLike[str],
    port: int,
    database_url: str,
    jwt_secret: str,
    store_url: str,
    store_user: str,
    store_password: str,
    store_database: str = "otel_2",
) -> dict[str, str]:
    """The environment the real API needs, for the sandbox's PostgreSQL and trace store on 127.0.0.1."""
    db = urlsplit(database_url)
    store = urlsplit(store_url)
    domain = f"localhost:{port}"
    return {
        "JWT_SECRET_KEY": jwt_secret,
        "SUPABASE_HOST": db.hostname or "127.0.0.1",
        "SUPABASE_PORT": str(db.port or 5432),
        "SUPABASE_USER": unquote(db.username or ""),
        "SUPABASE_PASSWORD": unquote(db.password or ""),
        "SUPABASE_DATABASE": db.path.lstrip("/") or "postgres",
        "SUPABASE_SSLMODE": "disable",
        "SUPABASE_MAX_POOL_SIZE": "4",
        # the API builds Supabase clients from these but the sandbox's routes never call them
        "SUPABASE_URL": "http://127.0.0.1:9",
        "SUPABASE_KEY": "sandbox-unused",
        "AUTH_COOKIE_SECRET": secrets.token_urlsafe(32),  # signs the dashboard's session cookies
        "CLICKHOUSE_HOST": store.hostname or "127.0.0.1",
        "CLICKHOUSE_PORT": str(store.port or 8123),
        "CLICKHOUSE_USER": store_user,
        "CLICKHOUSE_PASSWORD": store_password,
        "CLICKHOUSE_DATABASE": store_database,
        "CLICKHOUSE_SECURE": "false",
        "PROTOCOL": "http",
        "API_DOMAIN": domain,
        "APP_DOMAIN": domain,
        # bytecode is read from and written to the cache, never next to the (maybe read-only) checkout
        "PYTHONPYCACHEPREFIX": str(pycache_dir(venv)),
        "PYTHONDONTWRITEBYTECODE": "",
        "PYTHONPATH": "",
        "VIRTUAL_ENV": "",
    }


def api_command(venv: str | os.PathLike[str], port: int, *, workers: int = 1) -> tuple[str, list[str]]:
    """``(python, args)`` for ``python -m uvicorn agentops.app:app`` on 127.0.0.1 (cwd: the checkout's app/api)."""
    args = [API_APP, "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        args += ["--workers", str(workers)]
    return str(venv_python(venv)), args
