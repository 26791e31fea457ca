"""The expected schema of the AgentOps tables the API maps, loaded from package data.

``runbook_lib/data/expected_schema.yaml`` lists tables, columns, keys, indexes, enums and schemas,
each tagged with the upstream migration version that introduces it. This module turns the file
into :class:`ExpectedObject` items (one per object, with a stable check id) and keeps the table
specs for DDL generation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from ..errors import ConfigError

__all__ = [
    "ExpectedObject",
    "ExpectedSchema",
    "TableSpec",
    "load_expected_schema",
    "split_name",
    "FK_ACTIONS",
]

#: pg_constraint.confupdtype / confdeltype codes -> the words used in the expected schema.
FK_ACTIONS = {"a": "no action", "r": "restrict", "c": "cascade", "n": "set null", "d": "set default"}


def split_name(qualified: str) -> tuple[str, str]:
    """``"deploy.projects"`` -> ``("deploy", "projects")``; unqualified names are in ``public``."""
    schema, _, name = qualified.rpartition(".")
    return (schema or "public", name)


def short_table(schema: str, table: str) -> str:
    """``org_invites`` for public tables, ``deploy.projects`` otherwise (used in check ids)."""
    return table if schema == "public" else f"{schema}.{table}"


@dataclass(frozen=True)
class ExpectedObject:
    """One object of the expected schema.

    ``kind`` is one of ``schema enum table column primary_key unique foreign_key index
    obsolete_table``. ``table`` is the owning table (``(schema, name)``) for table parts.
    ``spec`` holds the kind's details as written in the YAML file.
    """

    kind: str
    schema: str
    name: str
    version: str
    table: str | None = None
    spec: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def label(self) -> str:
        """Human name: ``public.org_invites.inviter_id``, ``schema deploy``, ``enum public.org_roles``."""
        if self.kind == "schema":
            return f"schema {self.name}"
        if self.kind == "enum":
            return f"enum {self.schema}.{self.name}"
        if self.table is None:
            return f"{self.schema}.{self.name}"
        return f"{self.schema}.{self.table}.{self.name}"

    @property
    def check_id(self) -> str:
        """Stable dotted check id, e.g. ``drift.org_invites.inviter_id`` or ``drift.deploy.projects``."""
        if self.kind == "schema":
            return f"drift.schema.{self.name}"
        if self.kind == "enum":
            return f"drift.enum.{self.name}"
        if self.table is None:
            return f"drift.{short_table(self.schema, self.name)}"
        return f"drift.{short_table(self.schema, self.table)}.{self.name}"

    @property
    def table_key(self) -> tuple[str, str] | None:
        if self.kind in ("table", "obsolete_table"):
            return (self.schema, self.name)
        return (self.schema, self.table) if self.table else None


@dataclass(frozen=True)
class TableSpec:
    """A table of the expected schema as written in the YAML file (for DDL and comparisons)."""

    schema: str
    name: str
    version: str
    columns: tuple[dict[str, Any], ...]
    primary_key: dict[str, Any] | None
    unique: tuple[dict[str, Any], ...]
    foreign_keys: tuple[dict[str, Any], ...]
    indexes: tuple[dict[str, Any], ...]
    backfills: tuple[dict[str, Any], ...]
    row_level_security: bool
    moved_from: tuple[str, str] | None
    moved_from_version: str | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)

    def column(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.columns if c["name"] == name), None)


@dataclass(frozen=True)
class ExpectedSchema:
    """Everything the expected-schema file declares."""

    base_version: str
    migrations: tuple[dict[str, Any], ...]
    base_names: dict[str, str]
    objects: tuple[ExpectedObject, ...]
    tables: dict[tuple[str, str], TableSpec]

    @property
    def versions(self) -> list[str]:
        """Every version that introduces an object, oldest first."""
        return sorted({o.version for o in self.objects})

    @property
    def late_versions(self) -> list[str]:
        """Versions after ``base_version`` (the ones the runbook models and may record)."""
        return [m["version"] for m in self.migrations]

    def migration(self, version: str) -> dict[str, Any] | None:
        return next((m for m in self.migrations if m["version"] == version), None)

    def name_of(self, version: str) -> str:
        """Upstream file name part of a version (``fix_org_invites``), or '' when unknown."""
        found = self.migration(version)
        return found["name"] if found else self.base_names.get(version, "")

    def describe(self, version: str) -> str:
        """``20250620000000 (fix_org_invites)``."""
        name = self.name_of(version)
        return f"{version} ({name})" if name else version

    def objects_of(self, version: str) -> list[ExpectedObject]:
        return [o for o in self.objects if o.version == version]

    @property
    def schemas(self) -> list[str]:
        """Schemas a catalog snapshot must cover."""
        names = {o.schema for o in self.objects} | {o.name for o in self.objects if o.kind == "schema"}
        names |= {"auth", "supabase_migrations"}
        return sorted(names)


def _as_version(value: Any) -> str:
    return str(value)


def _parse(data: dict[str, Any]) -> ExpectedSchema:
    objects: list[ExpectedObject] = []
    tables: dict[tuple[str, str], TableSpec] = {}
    for item in data.get("schemas", []):
        objects.append(ExpectedObject("schema", item["name"], item["name"], _as_version(item["version"]),
                                      spec=item))
    for item in data.get("enums", []):
        schema, name = split_name(item["name"])
        objects.append(ExpectedObject("enum", schema, name, _as_version(item["version"]), spec=item))
    for qualified, t in data["tables"].items():
        schema, name = split_name(qualified)
        tversion = _as_version(t["version"])
        objects.append(ExpectedObject("table", schema, name, tversion, spec=t))

        def part(kind: str, item: dict[str, Any], obj_name: str | None = None) -> None:
            version = _as_version(item.get("version", tversion))  # noqa: B023
            objects.append(ExpectedObject(kind, schema, obj_name or item["name"], version, table=name,  # noqa: B023
                                          spec=item))

        for col in t["columns"]:
            part("column", col)
        if t.get("primary_key"):
            part("primary_key", t["primary_key"])
        for item in t.get("unique", []):
            part("unique", item)
        for item in t.get("foreign_keys", []):
            part("foreign_key", item)
        for item in t.get("indexes", []):
            part("index", item)
        moved = t.get("moved_from")
        tables[(schema, name)] = TableSpec(
            schema=schema, name=name, version=tversion, columns=tuple(t["columns"]),
            primary_key=t.get("primary_key"), unique=tuple(t.get("unique", [])),
            foreign_keys=tuple(t.get("foreign_keys", [])), indexes=tuple(t.get("indexes", [])),
            backfills=tuple(t.get("backfills", [])), row_level_security=bool(t.get("row_level_security")),
            moved_from=split_name(moved) if moved else None,
            moved_from_version=_as_version(t["moved_from_version"]) if moved else None,
        )
    for item in data.get("obsolete_tables", []):
        schema, name = split_name(item["name"])
        objects.append(ExpectedObject("obsolete_table", schema, name, _as_version(item["version"]), spec=item))
    migrations = tuple({**m, "version": _as_version(m["version"])} for m in data.get("migrations", []))
    base_names = {_as_version(k): str(v) for k, v in (data.get("base_migrations") or {}).items()}
    return ExpectedSchema(_as_version(data["base_version"]), migrations, base_names, tuple(objects), tables)


@lru_cache(maxsize=1)
def load_expected_schema() -> ExpectedSchema:
    """The packaged expected schema (parsed once per process)."""
    try:
        packaged = resources.files("runbook_lib").joinpath("data").joinpath("expected_schema.yaml")
        text = packaged.read_text(encoding="utf-8")
        return _parse(yaml.safe_load(text))
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"the packaged expected schema cannot be read ({type(exc).__name__}: {exc})",
                          hint="reinstall agentops-runbooks; runbook_lib/data/expected_schema.yaml is damaged",
                          ) from None
