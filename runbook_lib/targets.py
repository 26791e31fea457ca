"""The hosts a run talks to, for report headers: ``scheme://host:port`` of every URL and DSN parameter.

Nothing else of a value survives: no userinfo, path, query or fragment, and a DSN gives only its host and
port (its password and user stay behind the secret reference).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .params import ParamSpec
from .secrets import SecretRef, is_reference

__all__ = ["Target", "target_hosts"]


@dataclass(frozen=True)
class Target:
    """One parameter's endpoint: ``parameter`` names it, ``endpoint`` is ``scheme://host[:port]``."""

    parameter: str
    endpoint: str


def _host_port(host: str, port: int | str | None) -> str:
    shown = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
    return f"{shown}:{port}" if port else shown


def _url_endpoint(value: str) -> str | None:
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return f"{parts.scheme}://{_host_port(parts.hostname, port)}"


def _dsn_endpoints(reference: str) -> list[str]:
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(SecretRef.parse(reference).resolve())
    except Exception:  # an unresolvable or malformed DSN names no host; the run reports it elsewhere
        return []
    hosts = str(info.get("host") or info.get("hostaddr") or "localhost").split(",")
    ports = str(info.get("port") or "5432").split(",")
    out = []
    for i, host in enumerate(hosts):
        port = ports[i] if i < len(ports) else ports[-1]
        out.append(f"unix socket {host}" if host.startswith("/") else f"postgresql://{_host_port(host, port)}")
    return out


def target_hosts(specs: Mapping[str, ParamSpec], values: Mapping[str, Any]) -> list[Target]:
    """The endpoint of every ``Url`` and ``DsnSecret`` parameter that has a value, in declaration order."""
    targets = []
    for name, spec in specs.items():
        value = values.get(name, spec.default)
        if not value or not isinstance(value, str):
            continue
        if spec.type_name == "Url":
            endpoint = _url_endpoint(value)
            targets += [Target(name, endpoint)] if endpoint else []
        elif spec.type_name == "DsnSecret" and is_reference(value):
            targets += [Target(name, endpoint) for endpoint in _dsn_endpoints(value)]
    return targets
