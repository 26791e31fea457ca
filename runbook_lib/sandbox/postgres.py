"""A throwaway local PostgreSQL cluster for the sandbox, the tests and the benchmarks.

Uses the system PostgreSQL binaries (Debian: ``/usr/lib/postgresql/<v>/bin``). ``initdb`` refuses to
run as root, so as root every server command runs as the ``postgres`` system user through
``runuser -u postgres --`` and the cluster lives in a directory that user owns. The server listens on
``127.0.0.1`` only, on a free port, with durability switched off (fsync, synchronous_commit,
full_page_writes): it is for throwaway data.

Authentication: the ``postgres`` superuser gets a random password; TCP logins use ``scram-sha-256``
(so a wrong password is refused as on a real server), the Unix socket stays ``trust`` for the
server's own tooling. Example::

    server = PostgresServer().start()
    try:
        server.create_role("app_reader", "s3cret-pw")       # a non-owner login role
        server.create_database("agentops")
        dsn = server.dsn("agentops")                        # superuser DSN (password included)
        dsn_ro = server.dsn("agentops", "app_reader", "s3cret-pw")
    finally:
        server.stop()                                       # idempotent; removes a temp dir it made

Passwords are registered with :func:`runbook_lib.secrets.remember_secret`, so ``redact`` strips them.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import re
import secrets as _secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from ..errors import SandboxError
from ..secrets import remember_secret
from .processes import free_port, is_running

__all__ = ["PostgresServer", "find_pg_bindir", "free_port"]

_INSTALL_HINT = "install the PostgreSQL server: apt-get install -y postgresql (Debian/Ubuntu)"
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "32MB",
    "password_encryption": "'scram-sha-256'",
    "log_min_messages": "warning",
}


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _has_server_binaries(bindir: str | os.PathLike[str]) -> bool:
    return all(os.access(Path(bindir, name), os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def _version_key(path: str) -> tuple[int, ...]:
    match = re.search(r"/postgresql/(\d+)(?:\.(\d+))?/bin", path)
    return tuple(int(g) for g in match.groups() if g) if match else (0,)


def find_pg_bindir() -> Path:
    """Directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    Looked up in this order: ``pg_ctl`` on PATH (symlinks resolved), ``pg_config --bindir``,
    the newest ``/usr/lib/postgresql/*/bin``. Raises :class:`SandboxError` when none has them.
    """
    candidates: list[str] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(os.path.realpath(on_path)).parent))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for candidate in candidates:
        if _has_server_binaries(candidate):
            return Path(candidate)
    raise SandboxError(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found on PATH, via pg_config "
        "or under /usr/lib/postgresql/*/bin",
        hint=_INSTALL_HINT,
    )


def _port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class PostgresServer:
    """One local PostgreSQL cluster: ``start()``, ``dsn()``, ``stop()``.

    ``data_dir`` is the cluster directory (created and initialised when empty or missing). With
    ``data_dir=None`` a temporary directory is made and removed again by ``stop()``. ``port=None``
    picks a free port on 127.0.0.1 at each start. ``password`` is the ``postgres`` superuser's
    password (random when omitted; it is only applied when the cluster is initialised, so pass the
    same password again when reopening an existing ``data_dir``).
    """

    superuser = "postgres"
    host = "127.0.0.1"

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        port: int | None = None,
        *,
        password: str | None = None,
        bindir: str | os.PathLike[str] | None = None,
        start_timeout_s: float = 60.0,
    ) -> None:
        self._temp_base: Path | None = None
        if data_dir is None:
            self._temp_base = Path(tempfile.mkdtemp(prefix="runbook-pg-"))
            data_dir = self._temp_base / "data"
        self.data_dir = Path(data_dir).absolute()
        self.base_dir = self.data_dir.parent
        self.log_path = self.base_dir / f"{self.data_dir.name}.log"
        self.socket_dir = self.base_dir
        self._requested_port = port
        self.port: int | None = port
        self.password = password or _secrets.token_urlsafe(18)
        remember_secret(self.password)
        self._bindir = Path(bindir) if bindir else None
        self.start_timeout_s = start_timeout_s
        self._started_here = False
        self._atexit_registered = False

    # -- properties ---------------------------------------------------------------------------
    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = find_pg_bindir()
        return self._bindir

    @property
    def pid(self) -> int | None:
        """Postmaster pid from ``postmaster.pid``, or None when the server is not running."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0].strip()
        except OSError:
            return None
        if not first.isdigit():
            return None
        pid = int(first)
        return pid if is_running(pid) else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def dsn(self, dbname: str = "postgres", user: str | None = None, password: str | None = None) -> str:
        """``postgresql://user:password@127.0.0.1:port/dbname``; the superuser's password by default."""
        if self.port is None:
            raise SandboxError("the PostgreSQL server has no port yet", hint="call start() first")
        user = user or self.superuser
        if password is None and user == self.superuser:
            password = self.password
        auth = quote(user, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    # -- running commands ---------------------------------------------------------------------
    def _command(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if _is_root() else argv

    def _run(self, argv: list[str], *, timeout: float, what: str) -> subprocess.CompletedProcess[str]:
        try:
            proc = subprocess.run(
                self._command(argv), capture_output=True, text=True, timeout=timeout,
                cwd=str(self.base_dir), env={**os.environ, "LC_ALL": "C", "LANG": "C"},
            )
        except FileNotFoundError as exc:
            raise SandboxError(f"cannot run {exc.filename} to {what}", hint=_INSTALL_HINT) from None
        except subprocess.TimeoutExpired:
            raise SandboxError(
                f"PostgreSQL did not finish '{what}' within {timeout:.0f} s (log: {self.log_path})",
                hint="look at the log; a stale postmaster.pid or a full disk are common causes",
            ) from None
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
            raise SandboxError(
                f"PostgreSQL failed to {what} (exit {proc.returncode}): " + " | ".join(detail)
                + f" (log: {self.log_path})",
                hint="read the log file named above",
            )
        return proc

    def _prepare_dirs(self) -> None:
        created_base = not self.base_dir.exists()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if _is_root():
            if self._temp_base is not None or created_base:
                os.chmod(self.base_dir, 0o755)
                shutil.chown(self.base_dir, "postgres", "postgres")
            if not self.data_dir.exists():
                self.data_dir.mkdir(mode=0o700)
            shutil.chown(self.data_dir, "postgres", "postgres")
            probe = subprocess.run(
                ["runuser", "-u", "postgres", "--", "test", "-w", str(self.base_dir)], cwd="/",
                capture_output=True,
            )
            if probe.returncode != 0:
                raise SandboxError(
                    f"the postgres system user cannot write to {self.base_dir}",
                    hint="use a data directory under /tmp (PostgresServer(None) makes one), or chown "
                    "its parent to postgres; every parent directory must be enterable by postgres",
                )
        else:
            self.data_dir.mkdir(mode=0o700, exist_ok=True)

    def _initdb(self) -> None:
        pwfile = self.base_dir / f".{self.data_dir.name}.pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(self.password + "\n")
            if _is_root():
                shutil.chown(pwfile, "postgres", "postgres")
            self._run(
                [str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", self.superuser,
                 f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
                 "-E", "UTF8", "--no-locale", "--no-sync"],
                timeout=120, what="initialise the cluster (initdb)",
            )
        finally:
            with contextlib.suppress(OSError):
                pwfile.unlink()
        conf = self.data_dir / "postgresql.conf"
        extra = "".join(f"{k} = {v}\n" for k, v in _SETTINGS.items())
        extra += f"unix_socket_directories = '{self.socket_dir}'\n"
        with conf.open("a", encoding="utf-8") as fh:
            fh.write("\n# runbook_lib.sandbox.postgres\n" + extra)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> PostgresServer:
        """Initialise (when needed) and start the cluster; returns ``self``. No-op when running."""
        if self.running:
            return self
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        last_error: SandboxError | None = None
        for _attempt in range(3):
            self.port = self._requested_port or free_port(self.host)
            if self._requested_port and not _port_is_free(self._requested_port, self.host):
                raise SandboxError(
                    f"port {self._requested_port} on 127.0.0.1 is already in use",
                    hint="pass another port, or port=None to pick a free one",
                )
            try:
                self._run(
                    [str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_path),
                     "-w", "-t", str(int(self.start_timeout_s)), "-o", f"-p {self.port}", "start"],
                    timeout=self.start_timeout_s + 15, what=f"start on port {self.port}",
                )
            except SandboxError as exc:
                last_error = exc
                if self._requested_port or "could not bind" not in self._log_tail():
                    break
                continue
            self._started_here = True
            if not self._atexit_registered:
                atexit.register(self._stop_at_exit)
                self._atexit_registered = True
            return self
        assert last_error is not None
        raise last_error

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, *, remove: bool | None = None) -> None:
        """Stop the server (fast shutdown; by pid when pg_ctl fails). Safe to call repeatedly.

        ``remove`` deletes the cluster directory afterwards; by default only a temporary
        directory that this object created is removed.
        """
        pid = self.pid
        if pid is not None:
            try:
                self._run(
                    [str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30",
                     "stop"],
                    timeout=45, what="stop",
                )
            except SandboxError:
                self._kill(pid)
            if not self._wait_gone(pid, 10):
                self._kill(pid)
        self._started_here = False
        if remove is None:
            remove = self._temp_base is not None
        if remove:
            target = self._temp_base or self.data_dir
            shutil.rmtree(target, ignore_errors=True)

    def _kill(self, pid: int) -> None:
        for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
            if self._wait_gone(pid, wait):
                return
        raise SandboxError(f"PostgreSQL (pid {pid}) did not stop", hint=f"kill it by hand; log: {self.log_path}")

    @staticmethod
    def _wait_gone(pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not is_running(pid):
                return True
            time.sleep(0.05)
        return not is_running(pid)

    def detach(self) -> None:
        """Leave the server running when this process exits (by default it is stopped at exit)."""
        if self._atexit_registered:
            atexit.unregister(self._stop_at_exit)
            self._atexit_registered = False

    def _stop_at_exit(self) -> None:
        if self._started_here:
            with contextlib.suppress(Exception):
                self.stop()

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- administration -----------------------------------------------------------------------
    def _admin(self, dbname: str = "postgres"):  # -> psycopg.Connection
        import psycopg

        return psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=10,
                               application_name="runbook-pg-server")

    def execute(self, statement: str | object, params: object = None, *, dbname: str = "postgres") -> None:
        """Run one statement as the superuser in ``dbname`` (autocommit)."""
        with self._admin(dbname) as conn:
            conn.execute(statement, params)

    def create_database(self, name: str, *, owner: str | None = None, template: str | None = None) -> str:
        """Create database ``name`` (optionally owned by ``owner``, copied from ``template``)."""
        from psycopg import sql

        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if owner:
            stmt += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
        if template:
            stmt += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self.execute(stmt)
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name`` if it exists, disconnecting its sessions first."""
        from psycopg import sql

        self.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def create_role(self, name: str, password: str | None = None, *, login: bool = True,
                    superuser: bool = False) -> str:
        """Create a role (a login role that owns nothing unless told); returns its name."""
        from psycopg import sql

        opts: list[sql.Composable] = [sql.SQL("LOGIN" if login else "NOLOGIN"),
                                      sql.SQL("SUPERUSER" if superuser else "NOSUPERUSER")]
        if password is not None:
            remember_secret(password)
            opts.append(sql.SQL("PASSWORD {}").format(sql.Literal(password)))
        self.execute(sql.SQL("CREATE ROLE {} ").format(sql.Identifier(name)) + sql.SQL(" ").join(opts))
        return name

    def __repr__(self) -> str:
        state = f"running pid={self.pid}" if self.running else "stopped"
        return f"<PostgresServer {self.data_dir} port={self.port} {state}>"
