"""Project, organisation and membership lookups in the AgentOps (Supabase) database.

The statements select the same columns as the real API's ORM loads (its joined project lookup,
:data:`runbook_lib.db.auth_query.AUTH_QUERY`), so a database missing a later migration fails here
the way it fails upstream (``UndefinedColumn``). A driver error becomes :class:`DatabaseFailure`,
whose text carries the statement and bound parameters as SQLAlchemy's does, API key included.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from ...db.auth_query import AUTH_QUERY
from .failures import DatabaseFailure
from .settings import ApiSettings

__all__ = ["DEMO_ORG_ID", "ProjectRow", "ProjectStore", "UserProject"]

#: The organisation upstream hides from project lists (``opsboard/environment.py``).
DEMO_ORG_ID = "c0000000-0000-0000-0000-000000000000"

_WHERE_BY_KEY = "WHERE projects.api_key = %(api_key)s::uuid"
if not AUTH_QUERY.rstrip().endswith(_WHERE_BY_KEY):  # pragma: no cover (guards a contract change)
    raise ImportError("runbook_lib.db.auth_query.AUTH_QUERY no longer ends with the api_key filter")
_JOINED = AUTH_QUERY.rstrip()[: -len(_WHERE_BY_KEY)]
#: ``ProjectModel.get_by_api_key``.
BY_KEY_SQL = _JOINED + "WHERE projects.api_key = %(api_key_1)s::UUID"
#: ``ProjectModel.get_by_id``: the same joins and columns, filtered by project id.
BY_ID_SQL = _JOINED + "WHERE projects.id = %(id_1)s::UUID"
#: ``ProjectModel.get_all_for_user_optimized``: the user's projects, demo org excluded, no ORDER BY. Of the
#: membership upstream loads only the role (``load_only``), so a missing ``user_orgs.is_paid`` (the field
#: guide's hand fix) does not break this route, while it breaks the auth lookup.
FOR_USER_SQL = """SELECT projects.id AS projects_id, projects.name AS projects_name,
       projects.api_key AS projects_api_key, orgs.id AS orgs_id, orgs.name AS orgs_name,
       orgs.prem_status AS orgs_prem_status, orgs.subscription_id AS orgs_subscription_id,
       user_orgs.role AS user_orgs_role
FROM public.projects
JOIN public.orgs ON projects.org_id = orgs.id
JOIN public.user_orgs ON user_orgs.org_id = orgs.id
WHERE user_orgs.user_id = %(user_id_1)s::UUID AND orgs.id != %(id_1)s::UUID"""


@dataclass(frozen=True)
class ProjectRow:
    """A project with the organisation facts the routes use; ``member_ids`` are the org's user ids."""

    id: str
    name: str
    environment: str
    api_key: str
    prem_status: str
    org_id: str = ""
    member_ids: frozenset[str] = frozenset()

    @property
    def is_freeplan(self) -> bool:
        return self.prem_status == "free"

    def has_member(self, user_id: str | uuid.UUID) -> bool:
        return str(user_id) in self.member_ids


@dataclass(frozen=True)
class UserProject:
    """One row of a user's project list: the project, its organisation and the user's role there."""

    id: str
    name: str
    api_key: str
    org_id: str
    org_name: str
    prem_status: str
    role: str


class ProjectStore:
    """Reads projects over short-lived connections (one per lookup, as a pooled ORM session would)."""

    def __init__(self, settings: ApiSettings) -> None:
        self._settings = settings

    def _rows(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        try:
            with psycopg.connect(self._settings.database_url, autocommit=True,
                                 connect_timeout=max(1, int(self._settings.db_connect_timeout_s)),
                                 application_name="agentops-api-standin") as conn:
                cur = conn.execute(sql, params)
                names = [c.name for c in cur.description or ()]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        except psycopg.Error as exc:
            raise DatabaseFailure(exc, sql, params) from exc

    @staticmethod
    def _project(rows: list[dict[str, Any]]) -> ProjectRow | None:
        if not rows:
            return None
        first = rows[0]
        members = frozenset(str(r["user_orgs_1_user_id"]) for r in rows if r["user_orgs_1_user_id"] is not None)
        return ProjectRow(id=str(first["projects_id"]), name=str(first["projects_name"]),
                          environment=str(first["projects_environment"]), api_key=str(first["projects_api_key"]),
                          prem_status=str(first["orgs_1_prem_status"]), org_id=str(first["orgs_1_id"]),
                          member_ids=members)

    def by_api_key(self, api_key: str | uuid.UUID) -> ProjectRow | None:
        """The project of ``api_key`` (a UUID), or None."""
        return self._project(self._rows(BY_KEY_SQL, {"api_key_1": uuid.UUID(str(api_key))}))

    def by_id(self, project_id: str | uuid.UUID) -> ProjectRow | None:
        """The project ``project_id``, or None; a malformed id raises ``ValueError`` (upstream: 500)."""
        return self._project(self._rows(BY_ID_SQL, {"id_1": uuid.UUID(str(project_id))}))

    def for_user(self, user_id: str | uuid.UUID) -> list[UserProject]:
        """The projects of every organisation ``user_id`` belongs to, in the database's order."""
        rows = self._rows(FOR_USER_SQL, {"user_id_1": uuid.UUID(str(user_id)), "id_1": uuid.UUID(DEMO_ORG_ID)})
        seen: dict[str, UserProject] = {}
        for r in rows:
            pid = str(r["projects_id"])
            seen.setdefault(pid, UserProject(id=pid, name=str(r["projects_name"]), api_key=str(r["projects_api_key"]),
                                             org_id=str(r["orgs_id"]), org_name=str(r["orgs_name"]),
                                             prem_status=str(r["orgs_prem_status"]), role=str(r["user_orgs_role"])))
        return list(seen.values())
