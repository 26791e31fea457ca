"""``GET /opsboard/projects`` (session cookie required), as upstream's ``opsboard/views/projects.py``.

Every project of every organisation the session's user belongs to (the demo organisation left out,
no ORDER BY), each with its organisation, the user's role there and its span/trace counts from the
trace store (0 when it has none). A user with no memberships gets ``[]``.
"""


from typing import Annotated, Any

from fastapi import APIRouter, Depends

from .projects import ProjectStore
from .sessions import Session, SessionStore
from .store_queries import TraceStore

__all__ = ["opsboard_router"]


def opsboard_router(projects: ProjectStore, store: TraceStore, sessions: SessionStore) -> APIRouter:
    router = APIRouter(prefix="/opsboard")

    @router.get("/projects")
    def get_projects(session: Annotated[Session, Depends(sessions.require)]) -> Any:
        rows = projects.for_user(session.user_id)
        counts = store.project_counts([p.id for p in rows]) if rows else {}
        out = []
        for p in rows:
            spans, traces = counts.get(p.id, (0, 0))
            out.append({"id": p.id, "name": p.name, "api_key": p.api_key,
                        "org": {"id": p.org_id, "name": p.org_name, "prem_status": p.prem_status,
                                "current_user_role": p.role},
                        "span_count": spans, "trace_count": traces})
        return out

    return router
