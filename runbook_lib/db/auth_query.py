"""The AgentOps API's own project lookup, as ``POST /v3/auth/token`` runs it.

``ProjectModel.get_by_api_key`` joinedloads ``org.users``, ``org.invites`` and ``org.projects``
(agentops ``app/api/agentops/opsboard/models.py``), so one statement selects these columns. On a
database missing a later migration PostgreSQL reports the first missing column it meets
(``UndefinedColumn``), which the real API turns into ``500 {"error": "Authentication failed"}``.
"""

from __future__ import annotations

AUTH_QUERY_COLUMNS: dict[str, tuple[str, ...]] = {
    "projects": ("id", "org_id", "api_key", "name", "environment"),
    "user_orgs_1": ("user_id", "org_id", "role", "user_email", "is_paid"),
    "projects_1": ("id", "org_id", "api_key", "name", "environment"),
    "org_invites_1": ("inviter_id", "invitee_email", "org_id", "role", "org_name", "created_at"),
    "orgs_1": ("id", "name", "prem_status", "subscription_id"),
}

_SELECT = ",\n       ".join(
    f"{alias}.{col} AS {alias}_{col}" for alias, cols in AUTH_QUERY_COLUMNS.items() for col in cols
)

#: One statement, bound with the API key as ``%(api_key)s`` (a uuid). Column order matches the
#: order upstream observed: on an early database PostgreSQL reports, one per attempt,
#: user_orgs_1.is_paid, org_invites_1.inviter_id, .invitee_email, .created_at, orgs_1.subscription_id.
AUTH_QUERY = f"""SELECT {_SELECT}
FROM public.projects
LEFT OUTER JOIN public.orgs AS orgs_1 ON orgs_1.id = projects.org_id
LEFT OUTER JOIN public.user_orgs AS user_orgs_1 ON orgs_1.id = user_orgs_1.org_id
LEFT OUTER JOIN public.projects AS projects_1 ON orgs_1.id = projects_1.org_id
LEFT OUTER JOIN public.org_invites AS org_invites_1 ON orgs_1.id = org_invites_1.org_id
WHERE projects.api_key = %(api_key)s::uuid"""
