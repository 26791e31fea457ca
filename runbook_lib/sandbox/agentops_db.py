"""Build an AgentOps-shaped Supabase database at a chosen migration level, with seed data.

The SQL lives next to this module in ``agentops_db/`` and is our own: a minimal Supabase ``auth``
schema, the public schema as of upstream migration ``20250311082912``, and one file per later
migration that reproduces its *effects* (not the upstream text). Levels:

``early``          public schema as of 20250311082912 (org_invites in its old shape)
``invites_fixed``  plus 20250620000000 (the org_invites fix) only
``field_guide``    early plus the operators' field-guide hand fix (org_invites + orgs.subscription_id)
``current``        every migration up to 20250728000000

Usage (the database must exist and be empty)::

    server = PostgresServer().start()
    server.create_database("agentops")
    seed = build_agentops_db(server.dsn("agentops"), "current", ledger=True)
    seed.api_key, seed.project_id, seed.org_id, seed.user_id

Seed rows (auth users, orgs, memberships, projects, and org invites) are inserted *before* the
later migrations run, as on a real database, so every later change has to carry data along. With
``ledger=True`` the Supabase CLI ledger ``supabase_migrations.schema_migrations`` is created and
filled with the versions applied through it (for ``field_guide``: only the base versions, since
the hand fix bypassed the CLI). The ``current`` level never uses the repair code of
:mod:`runbook_lib.db.repair`, so comparing a repaired database with it is meaningful.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

from ..db.sqltext import split_statements
from ..errors import SandboxError
from ..secrets import remember_secret

__all__ = [
    "LEVELS",
    "LATE_MIGRATIONS",
    "BASE_VERSION",
    "AgentOpsSeed",
    "build_agentops_db",
    "migration_sql",
    "level_versions",
]

BASE_VERSION = "20250311082912"

#: The later upstream migrations whose effects the sandbox reproduces: version -> upstream name.
LATE_MIGRATIONS: dict[str, str] = {
    "20250620000000": "fix_org_invites",
    "20250708125448": "deploy",
    "20250710120000": "create_deploy_schema",
    "20250711231118": "add_per_seat_billing",
    "20250711235412": "add_usage_billing",
    "20250712220000": "cleanup_usage_tracking",
    "20250728000000": "add_pack_name_to_deploy_projects",
}

#: Upstream migrations up to and including BASE_VERSION (recorded in a ledger, not reproduced).
BASE_MIGRATIONS: dict[str, str] = {
    "20240130223013": "init",
    "20240213022625": "set_rls",
    "20240213022819": "check_jsonb_schema",
    "20240223211229": "create_functions",
    "20240305012719": "default_agent_function",
    "20240426210026": "rls_and_chatml_functions",
    "20240430232238": "2fa",
    "20240502200754": "developer_errors_timestamp",
    "20240517000428": "add_session_id_to_developer_errors",
    "20240605195848": "db_perf",
    "20240605210741": "org_management",
    "20240619205904": "fix_timeouts",
    "20240708180809": "rls_perf",
    "20240802043420": "add_ttd_table",
    "20240805190923": "project_delete",
    "20240920230814": "ttd_sessionid_foreign",
    "20241029221808": "null_end_states",
    "20241108040640": "add_actions_agent_session_index",
    "20250113233118": "add_shared_org",
    "20250116030349": "increase_timeouts",
    "20250130230400": "add_email_and_survey_columns_to_users",
    "20250204000000": "fix_user_email_trigger",
    "20250227232522": "add_spans_table",
    "20250311082912": "projects_performance",
}

LEVELS: dict[str, tuple[str, ...]] = {
    "early": (),
    "invites_fixed": ("20250620000000",),
    "field_guide": ("field_guide_fix",),
    "current": tuple(LATE_MIGRATIONS),
}


@dataclass(frozen=True)
class AgentOpsSeed:
    """Identifiers of the seeded rows. ``api_key`` is a secret (registered for redaction)."""

    api_key: str
    project_id: str
    org_id: str
    user_id: str
    user_email: str
    org_name: str
    member_user_id: str
    second_project_id: str
    other_org_id: str
    #: (inviter id, invitee email, org id) of every seeded invite.
    invites: tuple[tuple[str, str, str], ...]
    level: str
    ledger: bool
    #: Versions whose effects the build applied after the base schema.
    applied: tuple[str, ...] = field(default_factory=tuple)


def _sql_file(name: str) -> str:
    return resources.files(__package__).joinpath("agentops_db").joinpath(name).read_text(encoding="utf-8")


def migration_sql(version: str) -> str:
    """The sandbox's SQL reproducing the effects of one later migration (``LATE_MIGRATIONS``)."""
    if version == "field_guide_fix":
        return _sql_file("field_guide_fix.sql")
    if version not in LATE_MIGRATIONS:
        raise SandboxError(f"the sandbox has no SQL for migration {version}",
                           hint=f"use one of {', '.join(LATE_MIGRATIONS)}")
    return _sql_file(f"{version}_{LATE_MIGRATIONS[version]}.sql")


def level_versions(level: str) -> tuple[str, ...]:
    """Later migration versions whose effects a level has (``field_guide`` reports none)."""
    _check_level(level)
    return tuple(v for v in LEVELS[level] if v in LATE_MIGRATIONS)


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise SandboxError(f"unknown AgentOps database level {level!r}", hint=f"use one of {', '.join(LEVELS)}")


def _insert_ledger(conn: psycopg.Connection[Any], version: str, name: str, statements: list[str]) -> None:
    conn.execute(
        "INSERT INTO supabase_migrations.schema_migrations (version, statements, name) VALUES (%s, %s, %s)",
        (version, statements, name),
    )


def _seed(conn: psycopg.Connection[Any], api_key: str, prem_status: str) -> dict[str, Any]:
    ids = {k: str(uuid.uuid4()) for k in ("owner", "member", "org", "other_org", "project", "project2",
                                         "project3")}
    owner_email, member_email = "owner@example.test", "developer@example.test"
    conn.execute(
        "INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES"
        " (%(owner)s, %(oe)s, '{\"full_name\": \"Ada Owner\"}'),"
        " (%(member)s, %(me)s, '{\"full_name\": \"Dev Member\"}')",
        {**ids, "oe": owner_email, "me": member_email},
    )
    conn.execute(
        "INSERT INTO public.users (id, full_name, email) VALUES"
        " (%(owner)s, 'Ada Owner', %(oe)s), (%(member)s, 'Dev Member', %(me)s)",
        {**ids, "oe": owner_email, "me": member_email},
    )
    conn.execute(
        "INSERT INTO public.orgs (id, name, prem_status) VALUES"
        " (%(org)s, 'test_org', %(prem)s), (%(other_org)s, 'other_org', 'free')",
        {**ids, "prem": prem_status},
    )
    conn.execute(
        "INSERT INTO public.user_orgs (user_id, org_id, role, user_email) VALUES"
        " (%(owner)s, %(org)s, 'owner', %(oe)s), (%(member)s, %(org)s, 'developer', %(me)s),"
        " (%(owner)s, %(other_org)s, 'owner', %(oe)s)",
        {**ids, "oe": owner_email, "me": member_email},
    )
    conn.execute(
        "INSERT INTO public.projects (id, org_id, api_key, name, environment) VALUES"
        " (%(project)s, %(org)s, %(api_key)s, 'Default Project', 'development'),"
        " (%(project2)s, %(org)s, gen_random_uuid(), 'Second Project', 'production'),"
        " (%(project3)s, %(other_org)s, gen_random_uuid(), 'Other Project', 'staging')",
        {**ids, "api_key": api_key},
    )
    invites = (
        (ids["owner"], "invitee-one@example.test", ids["org"], "developer", "test_org"),
        (ids["member"], "invitee-two@example.test", ids["org"], "business_user", "test_org"),
        (ids["owner"], "invitee-one@example.test", ids["other_org"], "admin", "other_org"),
    )
    # Old shape: user_id holds the inviter's id, inviter holds the invitee's email.
    for inviter_id, email, org_id, role, org_name in invites:
        conn.execute(
            "INSERT INTO public.org_invites (user_id, org_id, role, org_name, inviter)"
            " VALUES (%s, %s, %s, %s, %s)",
            (inviter_id, org_id, role, org_name, email),
        )
    return {**ids, "owner_email": owner_email, "invites": tuple((i, e, o) for i, e, o, _, _ in invites)}


def build_agentops_db(
    dsn: str,
    level: str = "current",
    *,
    ledger: bool = False,
    api_key: str | None = None,
    prem_status: str = "pro",
) -> AgentOpsSeed:
    """Create the AgentOps schema at ``level`` in the (empty) database at ``dsn`` and seed it.

    ``dsn`` is a plain connection string of a role that may create schemas and roles (the
    sandbox superuser). ``api_key`` defaults to a random uuid; ``prem_status`` is the seeded
    org's plan (``free``, ``pro`` or ``enterprise``). Returns the seeded identifiers.
    """
    import psycopg

    _check_level(level)
    api_key = api_key or str(uuid.uuid4())
    remember_secret(api_key)
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10, application_name="runbook-sandbox-db")
    except psycopg.Error as exc:
        raise SandboxError(f"cannot connect to the sandbox database ({type(exc).__name__})",
                           hint="start the PostgresServer and create the database first") from None
    applied: list[str] = []
    try:
        with conn:
            exists = conn.execute("SELECT to_regclass('auth.users') IS NOT NULL").fetchone()
            if exists is not None and exists[0]:
                raise SandboxError("the database already holds an auth schema",
                                   hint="build into a freshly created, empty database")
            conn.execute(_sql_file("00_supabase_auth.sql"))
            conn.execute(_sql_file("10_public_20250311082912.sql"))
            if ledger:
                conn.execute(_sql_file("90_ledger.sql"))
                for version, name in BASE_MIGRATIONS.items():
                    _insert_ledger(conn, version, name, [])
            seeded = _seed(conn, api_key, prem_status)
            for step in LEVELS[level]:
                text = migration_sql(step)
                conn.execute(text)
                if step in LATE_MIGRATIONS:
                    applied.append(step)
                    if ledger:
                        _insert_ledger(conn, step, LATE_MIGRATIONS[step], split_statements(text))
    except psycopg.Error as exc:
        raise SandboxError(f"building the AgentOps database ({level}) failed: {exc}",
                           hint="build into a freshly created, empty database") from None
    return AgentOpsSeed(
        api_key=api_key,
        project_id=seeded["project"],
        org_id=seeded["org"],
        user_id=seeded["owner"],
        user_email=seeded["owner_email"],
        org_name="test_org",
        member_user_id=seeded["member"],
        second_project_id=seeded["project2"],
        other_org_id=seeded["other_org"],
        invites=seeded["invites"],
        level=level,
        ledger=ledger,
        applied=tuple(applied),
    )
