"""Step 2: tagged requests through the proxy (plain, streaming, failing), each with a run-unique tag."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from ..checks import Check
from ..clients.litellm import LiteLLMClient
from ..errors import ServiceError
from ..secrets import SecretRef
from .deadline import Deadline
from .results import KINDS, UNKNOWN_MODEL, SentRequest

__all__ = ["new_run_id", "requests_check", "send_requests"]


def new_run_id() -> str:
    return "rv-" + uuid.uuid4().hex[:12]


def send_requests(
    litellm_url: str,
    litellm_master_key: str | SecretRef,
    model: str,
    *,
    per_kind: int = 2,
    failing_model: str | None = None,
    run_id: str | None = None,
    kinds: Sequence[str] = KINDS,
    timeout_s: float = 30.0,
    deadline: Deadline | None = None,
) -> tuple[str, list[SentRequest]]:
    """Send ``per_kind`` requests of each kind; return the run id and what each request got back.

    Each request's timeout is ``timeout_s`` or what is left of ``deadline``, whichever is shorter.
    Once the deadline has passed, or the proxy stopped answering (a transport failure), the rest are
    not sent: each is recorded with the reason."""
    run_id = run_id or new_run_id()
    deadline = deadline or Deadline(float("inf"))
    sent: list[SentRequest] = []
    stopped: str | None = None
    for kind in kinds:
        for index in range(per_kind):
            tag = f"{run_id}:{kind}:{index}"
            use_model = (failing_model or UNKNOWN_MODEL) if kind == "failing" else model
            prompt = f"runbook round-trip check {tag}: answer briefly"
            started = time.time()
            if stopped is None and deadline.passed:
                stopped = f"not sent: deadline_s={deadline.total_s:g} had passed"
            if stopped is not None:
                sent.append(SentRequest(kind, index, tag, use_model, started, started, None, None, None, stopped))
                continue
            try:
                with LiteLLMClient(litellm_url, litellm_master_key, timeout_s=deadline.timeout(timeout_s)) as proxy:
                    if kind == "stream":
                        res = proxy.chat_stream(use_model, prompt, tags=["runbook-verify", run_id, tag])
                    else:
                        res = proxy.chat(use_model, prompt, tags=["runbook-verify", run_id, tag])
                sent.append(SentRequest(kind, index, tag, use_model, started, time.time(), res.status_code,
                                        res.call_id, res.response_id, res.error))
            except ServiceError as exc:
                sent.append(SentRequest(kind, index, tag, use_model, started, time.time(), None, None, None,
                                        exc.message))
                stopped = f"not sent: the proxy stopped answering ({tag} failed)"
    return run_id, sent


def requests_check(sent: Sequence[SentRequest]) -> Check:
    title = "Requests went through the proxy as expected"
    bad = [r for r in sent if not r.behaved]
    rows = [{"kind": r.kind, "index": r.index, "http_status": r.status_code, "call_id": r.call_id,
             "response_id": r.response_id, "error": (r.error or "")[:160]} for r in sent]
    no_id = [r for r in sent if not r.call_id]
    if bad:
        return Check.failed("roundtrip.requests", title,
                            f"{len(bad)} of {len(sent)} requests did not answer as expected "
                            "(plain/stream must succeed, failing must fail)",
                            "check the model parameter and the proxy log", evidence={"requests": rows})
    if no_id:
        return Check.failed("roundtrip.requests", title,
                            f"{len(no_id)} answers carried no x-litellm-call-id header, so spans cannot be matched",
                            "use LiteLLM >= 1.70 (it returns x-litellm-call-id)", evidence={"requests": rows})
    kinds = sorted({r.kind for r in sent})
    return Check.passed("roundtrip.requests", title,
                        f"{len(sent)} requests ({', '.join(kinds)}); the failing kind answered "
                        f"{sorted({r.status_code for r in sent if r.kind == 'failing' and r.status_code is not None})}",
                        evidence={"requests": rows})
