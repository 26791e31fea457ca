"""A local HTTP(S) forward proxy that refuses everything and writes down where it was asked to go.

The sandbox points ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` of the LiteLLM proxy at this trap (with
``NO_PROXY`` covering 127.0.0.1 and localhost), so any attempt to reach an outside host, such as the
built-in ``agentops`` callback's ``api.agentops.ai`` and ``otlp.agentops.cloud``, ends at 127.0.0.1:
the client sends ``CONNECT host:443`` here instead of resolving the name, the trap answers 403 and
records ``host:port`` (never paths, headers or bodies, which may carry keys).

Run in-process (:class:`EgressTrap`, a context manager) or as a process:
``python -m runbook_lib.sandbox.egress_trap --port P --log FILE`` (one JSON object per attempt).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socketserver
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["EgressTrap", "proxy_env", "read_attempts"]

LOCAL_HOSTS = "127.0.0.1,localhost,::1"
_REFUSAL = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def proxy_env(trap_url: str) -> dict[str, str]:
    """Environment variables that send every non-local HTTP(S) request of a child process to the trap."""
    env = {}
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        env[name] = trap_url
        env[name.lower()] = trap_url
    env["NO_PROXY"] = env["no_proxy"] = LOCAL_HOSTS
    return env


def _target_of(request_line: str) -> str | None:
    parts = request_line.split()
    if len(parts) < 2:
        return None
    method, target = parts[0].upper(), parts[1]
    if method == "CONNECT":
        return target  # host:port
    split = urlsplit(target)
    if split.hostname:
        port = split.port or (443 if split.scheme == "https" else 80)
        return f"{split.hostname}:{port}"
    return None


class _Handler(socketserver.StreamRequestHandler):
    timeout = 5

    def handle(self) -> None:
        try:
            line = self.rfile.readline(2048).decode("latin-1").strip()
        except OSError:
            return
        target = _target_of(line)
        if target:
            self.server.record(target)  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):
            self.wfile.write(_REFUSAL)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], log_path: Path | None) -> None:
        super().__init__(address, _Handler)
        self.log_path = log_path
        self.attempts: list[dict[str, object]] = []
        self._lock = threading.Lock()

    def record(self, target: str) -> None:
        entry = {"time": time.time(), "target": target}
        with self._lock:
            self.attempts.append(entry)
            if self.log_path is not None:
                with open(self.log_path, "a", encoding="utf-8") as out:
                    out.write(json.dumps(entry) + "\n")


class EgressTrap:
    """The trap served from a thread of this process; ``url`` is what HTTPS_PROXY should be."""

    def __init__(self, port: int = 0, *, log_path: str | Path | None = None) -> None:
        self._server = _Server(("127.0.0.1", port), Path(log_path) if log_path else None)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="egress-trap", daemon=True)

    def start(self) -> EgressTrap:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def attempts(self) -> list[dict[str, object]]:
        """Every refused attempt so far: ``{"time": epoch seconds, "target": "host:port"}``."""
        with self._server._lock:
            return list(self._server.attempts)

    def hosts(self) -> set[str]:
        return {str(a["target"]).rsplit(":", 1)[0] for a in self.attempts()}

    def __enter__(self) -> EgressTrap:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_attempts(log_path: str | Path) -> list[dict[str, object]]:
    """The attempts a trap process wrote to ``log_path`` (empty when the file does not exist)."""
    try:
        lines = Path(log_path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True, help="JSON-lines file of refused attempts")
    args = parser.parse_args(argv)
    server = _Server(("127.0.0.1", args.port), Path(args.log))
    print(f"egress trap listening on 127.0.0.1:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
