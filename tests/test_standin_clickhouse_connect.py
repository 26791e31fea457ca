"""The official ClickHouse client (clickhouse-connect) against the sandbox trace store, as against a real server.

What a real deployment's client does, on the stand-in: connect (version/timezone/system.settings probes),
server-side ``{name:Type}`` parameters, query_df, command, insert/insert_df (Native bodies, lz4-compressed
when ``compress=True``), Map columns of ``otel_2.otel_traces``, per-query settings, ``database``, HTTP
compression both ways, authentication failures; and the analytics SQL giving the same numbers as through
our own :class:`~runbook_lib.traces.store.ClickHouseHttpStore`.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import uuid
import zlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect  # the test extra; never skipped: a missing client is a failure
import httpx
import pandas as pd
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from runbook_lib.sandbox import jwt_hs256
from runbook_lib.traces.analytics import TraceAnalytics, TraceFilters
from runbook_lib.traces.store import TraceStore, normalise_frame
from tests.plugins.agentops_standin import StandinStore, make_export_request
from tests.plugins.traces import PROJECTS, TRACE_END, TRACE_START

pytestmark = pytest.mark.sandbox

HOSTILE = ["'; DROP TABLE otel_2.otel_traces; --", "a' OR '1'='1", "\\' OR 1=1 --", "{t:String}", "`x`",
           "tab\there", "new\nline", "cr\rx", "\\N", "\\", "", "😀 ümlaut", 'quote"d']


def connect(store: StandinStore, **kwargs: Any) -> Any:
    """``clickhouse_connect.get_client`` exactly as for a ClickHouse server at the stand-in's HTTP port."""
    kwargs.setdefault("password", store.password)
    return clickhouse_connect.get_client(host="127.0.0.1", port=urlsplit(store.query_url).port,
                                         username=store.user, **kwargs)


@pytest.fixture(params=[True, False], ids=["compress", "no-compress"])
def client(request: pytest.FixtureRequest, trace_store: StandinStore) -> Iterator[Any]:
    ch = connect(trace_store, compress=request.param)
    yield ch
    ch.close()


@pytest.fixture
def scratch_table(trace_store: StandinStore) -> Iterator[str]:
    name = f"default.cc_{uuid.uuid4().hex[:8]}"
    admin = connect(trace_store, compress=False)
    admin.command(f"CREATE TABLE {name} (id UInt32, label String, attrs Map(String, String), "
                  "ts DateTime64(9, 'UTC')) ENGINE = MergeTree ORDER BY id")
    yield name
    admin.command(f"DROP TABLE IF EXISTS {name}")
    admin.close()


def ingest(store: StandinStore, trace_id: str, project: str, **kwargs: Any) -> None:
    """Send one OTLP trace through the collector (as LiteLLM does) so it lands in otel_2.otel_traces."""
    bearer = jwt_hs256.issue_token(store.jwt_secret, project_id=project, project_prem_status="pro", api_key="k")
    body = make_export_request(trace_id=trace_id, **kwargs).SerializeToString()
    response = httpx.post(store.otlp_url, content=body, timeout=30,
                          headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {bearer}"})
    assert response.status_code == 200, response.text


# --- connecting, parameters, query_df, command ---------------------------------------------------------


def test_connects_like_to_a_server(client: Any, trace_store: StandinStore) -> None:
    version = trace_store.query("SELECT version()").strip()
    assert client.server_version == version
    assert str(client.server_tz) == "UTC"
    assert client.command("SELECT 1 + 1") == 2
    assert client.command("SELECT currentDatabase()") == "default"


def test_parameters_are_bound_server_side_and_arrive_byte_for_byte(client: Any) -> None:
    for value in HOSTILE:
        result = client.query("SELECT {v:String} AS v, {n:UInt32} AS n, {a:Array(String)} AS a",
                              parameters={"v": value, "n": 7, "a": [value, "x"]})
        assert result.result_rows == [(value, 7, [value, "x"])], repr(value)
    assert client.command("SELECT count() FROM system.tables WHERE database = 'otel_2' AND name = 'otel_traces'") == 1


def test_query_df_returns_a_frame(client: Any) -> None:
    df = client.query_df("SELECT number AS n, toString(number) AS s FROM numbers({k:UInt8}) ORDER BY n",
                         parameters={"k": 4})
    assert isinstance(df, pd.DataFrame)
    assert df["n"].tolist() == [0, 1, 2, 3] and df["s"].tolist() == ["0", "1", "2", "3"]


def test_map_columns_of_the_traces_table(client: Any, trace_store: StandinStore) -> None:
    trace_id, project = uuid.uuid4().hex, f"proj-{uuid.uuid4().hex[:8]}"
    hostile = HOSTILE[0]
    ingest(trace_store, trace_id, project, spans=2, attributes={"tag": hostile, "gen_ai.usage.completion_tokens": 5})
    result = client.query(
        "SELECT SpanName, SpanAttributes, ResourceAttributes, project_id FROM otel_2.otel_traces "
        "WHERE TraceId = {t:String} AND SpanAttributes['tag'] = {tag:String} ORDER BY SpanName",
        parameters={"t": trace_id, "tag": hostile})
    assert [r[0] for r in result.result_rows] == ["span-0", "span-1"]
    for _, span_attrs, resource_attrs, project_id in result.result_rows:
        assert isinstance(span_attrs, dict) and span_attrs["tag"] == hostile
        assert span_attrs["gen_ai.request.model"] == "mock-gpt" and span_attrs["gen_ai.usage.completion_tokens"] == "5"
        assert resource_attrs["agentops.project.id"] == project == project_id
    df = client.query_df("SELECT SpanAttributes['gen_ai.usage.prompt_tokens'] AS prompt, mapKeys(SpanAttributes) AS k "
                         "FROM otel_2.otel_traces WHERE TraceId = {t:String} ORDER BY SpanName",
                         parameters={"t": trace_id})
    assert df["prompt"].tolist() == ["11", "12"]
    assert "tag" in list(df["k"].iloc[0])


# --- writing: command, insert, insert_df ---------------------------------------------------------------


def test_insert_and_insert_df_round_trip(client: Any, scratch_table: str) -> None:
    ts = pd.Timestamp("2025-06-01 12:00:00.123456789", tz="UTC")
    summary = client.insert(scratch_table, [[1, HOSTILE[0], {"k": "v", "q'": "\\"}, ts], [2, "", {}, ts]],
                            column_names=["id", "label", "attrs", "ts"])
    assert summary.written_rows == 2
    frame = pd.DataFrame({"id": [3, 4], "label": ["tab\there", "😀"], "attrs": [{"a": "1"}, {"b": "2"}],
                          "ts": [ts, ts]})
    assert client.insert_df(scratch_table, frame).written_rows == 2
    rows = client.query(f"SELECT id, label, attrs, toUnixTimestamp64Nano(ts) FROM {scratch_table} ORDER BY id"
                        ).result_rows
    assert rows == [(1, HOSTILE[0], {"k": "v", "q'": "\\"}, ts.value), (2, "", {}, ts.value),
                    (3, "tab\there", {"a": "1"}, ts.value), (4, "😀", {"b": "2"}, ts.value)]
    client.command(f"ALTER TABLE {scratch_table} DELETE WHERE id = {{i:UInt32}} SETTINGS mutations_sync = 1",
                   parameters={"i": 2})
    assert client.command(f"SELECT count() FROM {scratch_table}") == 3


def test_compressed_insert_bodies_are_read(trace_store: StandinStore, scratch_table: str) -> None:
    """compress=True makes clickhouse-connect send the Native insert body with Content-Encoding: lz4."""
    for method in ("lz4", "zstd", "gzip"):
        ch = connect(trace_store, compress=method)
        assert ch.insert(scratch_table, [[10, method, {}, pd.Timestamp(0, tz="UTC")]],
                         column_names=["id", "label", "attrs", "ts"]).written_rows == 1
        ch.close()
    labels = connect(trace_store).query(f"SELECT arraySort(groupArray(label)) FROM {scratch_table}").result_rows
    assert labels == [(["gzip", "lz4", "zstd"],)]


# --- settings, database, failures ------------------------------------------------------------------------


def test_settings_apply_to_one_query_and_unknown_ones_fail(client: Any) -> None:
    assert client.command("SELECT getSetting('max_result_rows')", settings={"max_result_rows": 12345}) == 12345
    assert client.command("SELECT getSetting('max_result_rows')") == 0  # not left behind in the shared engine
    with pytest.raises(DatabaseError) as failed:
        client.query("SELECT 1", settings={"no_such_setting_x": 1})
    assert "115" in str(failed.value) and "UNKNOWN_SETTING" in str(failed.value)
    with pytest.raises(DatabaseError) as read_only:
        client.command("CREATE TABLE default.never (a Int8) ENGINE = Memory", settings={"readonly": 1})
    assert "164" in str(read_only.value)


def test_database_is_the_default_for_unqualified_names(trace_store: StandinStore) -> None:
    ch = connect(trace_store, database="otel_2")
    assert ch.command("SELECT currentDatabase()") == "otel_2"
    assert ch.command("SELECT count() FROM otel_traces") == trace_store.count()
    ch.close()
    with pytest.raises(DatabaseError) as failed:
        connect(trace_store, database="no_such_db").command("SELECT 1")
    assert "UNKNOWN_DATABASE" in str(failed.value)


def test_errors_carry_clickhouse_codes(client: Any) -> None:
    with pytest.raises(DatabaseError) as failed:
        client.query("SELECT * FROM otel_2.no_such_table")
    assert "code: 60" in str(failed.value) and "UNKNOWN_TABLE" in str(failed.value)


@pytest.mark.parametrize("who", ["wrong-password", "wrong-user"])
def test_bad_credentials_fail_with_code_516(trace_store: StandinStore, who: str) -> None:
    wrong = "not-the-password-" + uuid.uuid4().hex
    kwargs = {"password": wrong} if who == "wrong-password" else {"username": "admin"}
    with pytest.raises(DatabaseError) as failed:
        if who == "wrong-user":
            clickhouse_connect.get_client(host="127.0.0.1", port=urlsplit(trace_store.query_url).port,
                                          password=trace_store.password, **kwargs)
        else:
            connect(trace_store, **kwargs)
    text = str(failed.value)
    assert "code: 516" in text and "AUTHENTICATION_FAILED" in text
    assert wrong not in text and trace_store.password not in text


# --- HTTP compression at the wire -------------------------------------------------------------------------


def _raw(store: StandinStore, sql: bytes, headers: Mapping[str, str], **params: str) -> tuple[httpx.Response, bytes]:
    headers = {"Accept-Encoding": "identity", **headers}  # httpx asks for gzip by default
    with httpx.stream("POST", store.query_url + "/", content=sql, headers=headers, params=params,
                      auth=(store.user, store.password), timeout=30) as response:
        return response, b"".join(response.iter_raw())


@pytest.mark.parametrize("method,compress", [
    ("gzip", gzip.compress), ("deflate", zlib.compress), ("xz", lzma.compress), ("bz2", bz2.compress),
    ("zstd", None), ("lz4", None),
])
def test_request_bodies_are_decoded_by_content_encoding(trace_store: StandinStore, method: str, compress: Any) -> None:
    if method == "lz4":
        import lz4.frame

        compress = lz4.frame.compress
    elif method == "zstd":
        from clickhouse_connect.driver.compression import _zstd_compress as compress
    response, body = _raw(trace_store, compress(b"SELECT 42"), {"Content-Encoding": method})
    assert response.status_code == 200 and body == b"42\n"


def test_unknown_or_corrupt_request_encodings_fail_like_clickhouse(trace_store: StandinStore) -> None:
    unknown, body = _raw(trace_store, b"SELECT 1", {"Content-Encoding": "compress"})
    assert unknown.status_code == 501 and unknown.headers["X-ClickHouse-Exception-Code"] == "48"
    assert b"Unknown compression method 'compress'" in body
    corrupt, body = _raw(trace_store, b"SELECT 1", {"Content-Encoding": "gzip"})
    assert corrupt.status_code == 500 and corrupt.headers["X-ClickHouse-Exception-Code"] == "354"
    internal, _ = _raw(trace_store, b"SELECT 1", {}, compress="1")
    assert internal.status_code == 501 and internal.headers["X-ClickHouse-Exception-Code"] == "48"


def test_responses_are_compressed_as_clickhouse_chooses(trace_store: StandinStore) -> None:
    import lz4.frame

    sql = b"SELECT number FROM numbers(1000) FORMAT TSV"
    expected = b"".join(b"%d\n" % i for i in range(1000))
    # clickhouse-connect's Accept-Encoding; ClickHouse prefers zstd, then br, lz4, gzip, deflate.
    from clickhouse_connect.driver.compression import _zstd_decompress

    response, body = _raw(trace_store, sql, {"Accept-Encoding": "lz4,zstd,gzip,deflate"})
    assert response.headers["Content-Encoding"] == "zstd" and _zstd_decompress(body) == expected
    response, body = _raw(trace_store, sql, {"Accept-Encoding": "gzip, deflate, lz4"})
    assert response.headers["Content-Encoding"] == "lz4" and lz4.frame.decompress(body) == expected
    response, body = _raw(trace_store, sql, {"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip" and gzip.decompress(body) == expected
    response, body = _raw(trace_store, sql, {"Accept-Encoding": "gzip"}, enable_http_compression="0")
    assert "Content-Encoding" not in response.headers and body == expected
    response, body = _raw(trace_store, sql, {"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in response.headers and body == expected


# --- the analytics SQL through the official client ----------------------------------------------------------


class ClickHouseConnectAdapter(TraceStore):
    """Test-only: runs the analytics module's SQL through clickhouse-connect (the product keeps its httpx client)."""

    def __init__(self, ch: Any) -> None:
        self.ch = ch
        self.description = "clickhouse-connect (test)"

    def query_df(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        return normalise_frame(self.ch.query_df(self.bind_table(sql), parameters=dict(params or {})))

    def query_bytes(self, sql: str, params: Mapping[str, Any] | None, fmt: str) -> bytes:
        return self.ch.raw_query(self.bind_table(sql), parameters=dict(params or {}), fmt=fmt)


@pytest.mark.parametrize("filters", [{}, {"project_id": PROJECTS[1], "tag": "prod"}], ids=["all", "project+tag"])
def test_analytics_give_the_same_numbers_through_clickhouse_connect(http_trace_store: Any, filters: dict) -> None:
    ch = connect(http_trace_store.standin)
    window = TraceFilters.from_params(TRACE_START, TRACE_END, **filters)
    ours, official = TraceAnalytics(http_trace_store, window), TraceAnalytics(ClickHouseConnectAdapter(ch), window)
    for name in ("headline", "llm_latency", "trace_latency"):
        a, b = getattr(ours, name)().frame, getattr(official, name)().frame
        assert list(a.columns) == list(b.columns) and len(a) == len(b) > 0, name
        for col in a.columns:
            if pd.api.types.is_numeric_dtype(a[col]) and pd.api.types.is_numeric_dtype(b[col]):
                pd.testing.assert_series_equal(a[col].astype(float), b[col].astype(float), check_names=False,
                                               rtol=1e-12, obj=f"{name}.{col}")
            else:
                assert [str(v) for v in a[col]] == [str(v) for v in b[col]], (name, col)
    headline = ours.headline().frame.iloc[0]
    assert headline["spans"] > 0 and headline["llm_spans"] > 0
    ch.close()
