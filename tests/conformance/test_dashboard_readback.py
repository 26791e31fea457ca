"""The round trip's readback against the real AgentOps API: detail and public routes parse the same, and a
model the API cannot price is diagnosed."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from runbook_lib.checks import Status
from runbook_lib.traces import prices
from runbook_lib.traces.dashboard_views import open_dashboard_session
from runbook_lib.traces.store import ClickHouseHttpStore
from runbook_lib.traces.synthetic import insert_traces
from runbook_lib.verification import dashboard_readback as rb
from tests.conformance.conftest import ApiPair
from tests.plugins.agentops_standin import StandinStore
from tests.plugins.traces import span_rows_table
from tests.test_dashboard_readback import _trace

pytestmark = [pytest.mark.upstream, pytest.mark.postgres, pytest.mark.sandbox]


def test_real_api_readback(api_pair: Callable[..., ApiPair], conformance_store: StandinStore, tmp_path):
    pair = api_pair("current")
    pid = str(pair.seed.project_id)
    os.environ["READBACK_STORE_PASSWORD"] = conformance_store.password
    client = ClickHouseHttpStore(conformance_store.query_url, conformance_store.user, "env:READBACK_STORE_PASSWORD")
    unpriced, dated = "c" * 31 + "1", "d" * 31 + "2"
    try:
        insert_traces(client, span_rows_table(_trace(unpriced, pid, "acme-llm-7b")
                                              + _trace(dated, pid, "gpt-4o-mini", "gpt-4o-mini-2024-07-18")))
    finally:
        client.close()
    secret = tmp_path / "jwt"
    secret.write_text(pair.jwt_secret)
    secret.chmod(0o600)
    session = open_dashboard_session(pair.upstream, jwt_secret=f"file:{secret}", user_id=pair.seed.user_id)
    key = tmp_path / "key"
    key.write_text(str(pair.seed.api_key))
    key.chmod(0o600)
    bearer = rb.public_bearer(pair.upstream, f"file:{key}")

    detail = rb.read_back_trace(pair.upstream, dated, session=session)
    public = rb.read_back_trace(pair.upstream, dated, bearer=bearer)
    assert detail.model == public.model == "gpt-4o-mini-2024-07-18"
    assert (detail.prompt_tokens, detail.completion_tokens) == (public.prompt_tokens, public.completion_tokens) \
        == (1200, 300)
    assert detail.total_cost == public.total_cost > 0  # the API prices the dated model itself (tokencost)
    assert [c.status for c in rb.readback_checks(detail)] == [Status.PASS] * 3

    zero = rb.read_back_trace(pair.upstream, unpriced, session=session)
    assert zero.total_cost == 0 and zero.shown_cost == "0.0000000"
    cost = {c.id: c for c in rb.readback_checks(zero, price_book=prices.price_book())}["dashboard.cost"]
    assert cost.status is Status.FAIL and "no price for the response model 'acme-llm-7b'" in cost.summary
    assert not rb.read_back_trace(pair.upstream, "e" * 32, session=session).found
