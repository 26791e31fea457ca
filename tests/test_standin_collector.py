"""The sandbox collector and trace store: OTLP ingestion, JWT checks, row shape, ClickHouse HTTP."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest

from runbook_lib.sandbox import collector, jwt_hs256
from runbook_lib.traces import schema
from tests.plugins.agentops_standin import StandinStore, make_export_request, to_otlp_json

pytestmark = pytest.mark.sandbox

PROJECT = "7d6c1a64-0c7e-4c55-9a51-3e43f3a4a0f1"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def token(store: StandinStore, **overrides: object) -> str:
    claims = {"project_id": PROJECT, "project_prem_status": "enterprise", "api_key": str(uuid.uuid4())}
    claims.update(overrides)
    return jwt_hs256.issue_token(store.jwt_secret, **claims)  # type: ignore[arg-type]


def post(store: StandinStore, body: bytes, *, bearer: str | None, content_type: str = "application/x-protobuf",
         **headers: str) -> httpx.Response:
    all_headers = {"Content-Type": content_type, **headers}
    if bearer is not None:
        all_headers["Authorization"] = f"Bearer {bearer}"
    return httpx.post(store.otlp_url, content=body, headers=all_headers, timeout=30)


def rows_of(store: StandinStore, trace_id: str) -> list[dict]:
    text = store.query("SELECT *, project_id FROM otel_2.otel_traces WHERE TraceId = {t:String} "
                       "ORDER BY SpanName FORMAT JSONEachRow", {"t": trace_id})
    return [json.loads(line) for line in text.splitlines()]


# --- authentication ------------------------------------------------------------------------------


def test_missing_token_is_rejected_with_401_and_nothing_is_stored(trace_store: StandinStore) -> None:
    trace_id = uuid.uuid4().hex
    response = post(trace_store, make_export_request(trace_id=trace_id).SerializeToString(), bearer=None)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/x-protobuf"
    from google.rpc import status_pb2

    status = status_pb2.Status.FromString(response.content)
    assert status.code == 16 and "missing" in status.message
    assert trace_store.count("TraceId = {t:String}", {"t": trace_id}) == 0


@pytest.mark.parametrize("case", ["garbage", "wrong-secret", "expired", "not-bearer", "alg-none"])
def test_invalid_tokens_are_rejected_with_401(trace_store: StandinStore, case: str) -> None:
    trace_id = uuid.uuid4().hex
    good_claims = {"project_id": PROJECT, "project_prem_status": "pro", "api_key": "k", "aud": "authenticated"}
    bearer = {
        "garbage": "not.a.jwt",
        "wrong-secret": jwt_hs256.issue_token("another-secret-of-at-least-32-characters!",
                                              project_id=PROJECT, project_prem_status="pro", api_key="k"),
        "expired": token(trace_store, lifetime_s=-5),
        "alg-none": jwt.encode({**good_claims, "exp": int(time.time()) + 60}, key=None, algorithm="none"),
        "not-bearer": None,
    }[case]
    headers = {"Authorization": f"Basic {token(trace_store)}"} if case == "not-bearer" else {}
    response = post(trace_store, to_otlp_json(make_export_request(trace_id=trace_id)), bearer=bearer,
                    content_type="application/json", **headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == 16
    if case == "expired":
        assert "expired" in response.json()["message"]
    assert trace_store.count("TraceId = {t:String}", {"t": trace_id}) == 0
    assert bearer is None or bearer not in trace_store.log_text()


def test_audience_is_not_checked_by_the_collector(trace_store: StandinStore) -> None:
    """jwtauthextension verifies HMAC and exp only; a token for another audience still passes."""
    trace_id = uuid.uuid4().hex
    other_aud = jwt.encode({"exp": int(time.time()) + 60, "aud": "someone-else", "project_id": PROJECT},
                           trace_store.jwt_secret, algorithm="HS256")
    response = post(trace_store, make_export_request(trace_id=trace_id).SerializeToString(), bearer=other_aud)
    assert response.status_code == 200
    assert trace_store.count("TraceId = {t:String}", {"t": trace_id}) == 1


def test_project_id_is_stamped_from_the_token_over_the_client_value(trace_store: StandinStore) -> None:
    trace_id = uuid.uuid4().hex
    request = make_export_request(trace_id=trace_id, spans=2, client_project_id="spoofed-project")
    response = post(trace_store, request.SerializeToString(), bearer=token(trace_store))
    assert response.status_code == 200 and response.content == b""
    rows = rows_of(trace_store, trace_id)
    assert len(rows) == 2
    for row in rows:
        assert row["ResourceAttributes"]["agentops.project.id"] == PROJECT
        assert row["ResourceAttributes"]["ProjectId"] == PROJECT
        assert row["project_id"] == PROJECT
    assert "spoofed-project" not in trace_store.query(
        "SELECT groupArray(ResourceAttributes) FROM otel_2.otel_traces WHERE TraceId = {t:String}", {"t": trace_id})


# --- encodings and row shape ---------------------------------------------------------------------


def test_protobuf_json_and_gzip_ingestion_produce_identical_rows(trace_store: StandinStore) -> None:
    attributes = {"f": 0.5, "big": 1e21, "small": 1e-7, "whole": 2.0, "flag": True, "n": -3,
                  "list": ["a", "<b>", 1, 2.5], "map": {"z": 1, "a": "x&y"}, "raw": b"\x00\x01",
                  "text": "naïve 🚀 \"quoted\"\n"}
    results = []
    for encoding in ("protobuf", "json", "gzip-protobuf"):
        trace_id = uuid.uuid4().hex
        request = make_export_request(trace_id=trace_id, spans=3, attributes=attributes, error_on=2)
        if encoding == "json":
            response = post(trace_store, to_otlp_json(request), bearer=token(trace_store),
                            content_type="application/json")
            assert response.json() == {}
        elif encoding == "gzip-protobuf":
            response = post(trace_store, gzip.compress(request.SerializeToString()), bearer=token(trace_store),
                            **{"Content-Encoding": "gzip"})
        else:
            response = post(trace_store, request.SerializeToString(), bearer=token(trace_store))
        assert response.status_code == 200, response.text
        rows = rows_of(trace_store, trace_id)
        assert len(rows) == 3
        for row in rows:
            assert row.pop("TraceId") == trace_id
            row.pop("SpanId"), row.pop("ParentSpanId")
        results.append(rows)
    assert results[0] == results[1] == results[2]
    root, child, failed = results[0]
    assert root["SpanKind"] == "Client" and child["SpanKind"] == "Internal"
    assert root["StatusCode"] == "Unset" and failed["StatusCode"] == "Error" and failed["StatusMessage"] == "boom"
    assert root["Timestamp"] == "2026-11-27 21:00:00.123456789"
    assert root["Duration"] == 2_500_000
    assert root["ServiceName"] == "litellm" and root["ScopeName"] == "litellm" and root["ScopeVersion"] == "1.108.7"
    attrs = root["SpanAttributes"]
    assert attrs["f"] == "0.5" and attrs["big"] == "1e+21" and attrs["small"] == "1e-7" and attrs["whole"] == "2"
    assert attrs["flag"] == "true" and attrs["n"] == "-3" and attrs["raw"] == "AAE="
    assert attrs["list"] == '["a","\\u003cb\\u003e",1,2.5]'
    assert attrs["map"] == '{"a":"x\\u0026y","z":1}'
    assert attrs["text"] == "naïve 🚀 \"quoted\"\n"
    assert attrs["gen_ai.usage.prompt_tokens"] == "11"
    assert root["Events.Name"] == ["mark"] and root["Events.Attributes"] == [{"n": "0"}]
    assert root["Events.Timestamp"] == ["2026-11-27 21:00:00.123456794"]
    assert root["Links.TraceId"] == []


def test_ids_are_lower_case_hex_and_root_parent_is_empty(trace_store: StandinStore) -> None:
    trace_id = uuid.uuid4().hex
    post(trace_store, make_export_request(trace_id=trace_id, spans=2).SerializeToString(), bearer=token(trace_store))
    text = trace_store.query("SELECT TraceId, SpanId, ParentSpanId, SpanName FROM otel_2.otel_traces "
                             "WHERE TraceId = {t:String} ORDER BY SpanName", {"t": trace_id})
    (t0, s0, p0, _), (t1, s1, p1, _) = (line.split("\t") for line in text.splitlines())
    assert t0 == t1 == trace_id
    assert p0 == "" and p1 == s0
    assert all(len(s) == 16 and s == s.lower() for s in (s0, s1))


def test_table_shape_matches_the_contract(trace_store: StandinStore) -> None:
    text = trace_store.query("DESCRIBE TABLE otel_2.otel_traces", fmt="JSONEachRow")
    described = [(row["name"], row["type"]) for row in map(json.loads, text.splitlines())]
    expected = [schema.COLUMNS[0], ("project_id", "String"), *schema.COLUMNS[1:]]
    assert described == expected
    engine = trace_store.query("SELECT engine, sorting_key, partition_key FROM system.tables "
                               "WHERE database = 'otel_2' AND name = 'otel_traces'")
    assert engine.strip().split("\t") == ["MergeTree", "project_id, Timestamp", "toYYYYMM(Timestamp)"]


def test_bad_bodies_get_400_and_other_content_types_415(trace_store: StandinStore) -> None:
    bearer = token(trace_store)
    assert post(trace_store, b"\xff\xff\xff", bearer=bearer).status_code == 400
    bad_json = post(trace_store, b"{not json", bearer=bearer, content_type="application/json")
    assert bad_json.status_code == 400 and bad_json.json()["code"] == 3
    assert post(trace_store, b"x", bearer=bearer, content_type="text/plain").status_code == 415
    assert httpx.get(trace_store.otlp_url).status_code == 405
    assert httpx.post(trace_store.otlp_url.replace("/v1/traces", "/v1/metrics"), content=b"").status_code == 404


def test_costs_are_computed_when_a_price_is_known() -> None:
    request = make_export_request(attributes={"gen_ai.response.model": "mock-gpt", "gen_ai.usage.completion_tokens": 4})
    rows = collector.request_to_rows(request, project_id="p", prices={"mock-gpt": (1e-6, 2e-6)})
    assert rows[0]["SpanAttributes"]["gen_ai.usage.prompt_cost"] == "0.000011"
    assert rows[0]["SpanAttributes"]["gen_ai.usage.completion_cost"] == "0.000008"
    plain = collector.request_to_rows(request, project_id="p", prices={"other": (1.0, 1.0)})
    assert "gen_ai.usage.prompt_cost" not in plain[0]["SpanAttributes"]


# --- ClickHouse HTTP interface -------------------------------------------------------------------


def test_ping_and_root(trace_store: StandinStore) -> None:
    assert httpx.get(trace_store.query_url + "/ping").text == "Ok.\n"
    assert httpx.get(trace_store.query_url + "/").text == "Ok.\n"


@pytest.mark.parametrize("auth", ["none", "wrong-basic", "wrong-headers", "wrong-user"])
def test_wrong_credentials_fail_like_clickhouse(trace_store: StandinStore, auth: str) -> None:
    kwargs: dict = {
        "none": {},
        "wrong-basic": {"auth": ("default", "nope")},
        "wrong-headers": {"headers": {"X-ClickHouse-User": "default", "X-ClickHouse-Key": "nope"}},
        "wrong-user": {"auth": ("admin", trace_store.password)},
    }[auth]
    response = httpx.get(trace_store.query_url + "/", params={"query": "SELECT 1"}, **kwargs)
    assert response.status_code == 403
    assert response.headers["X-ClickHouse-Exception-Code"] == "516"
    assert response.text.startswith("Code: 516. DB::Exception: ")
    assert "(AUTHENTICATION_FAILED)" in response.text
    assert trace_store.password not in response.text


def test_credentials_by_headers_and_url_parameters(trace_store: StandinStore) -> None:
    by_headers = httpx.get(trace_store.query_url + "/", params={"query": "SELECT 42"},
                           headers={"X-ClickHouse-User": "default", "X-ClickHouse-Key": trace_store.password})
    assert by_headers.status_code == 200 and by_headers.text == "42\n"
    by_params = httpx.get(trace_store.query_url + "/", params={"query": "SELECT 43", "user": "default",
                                                               "password": trace_store.password})
    assert by_params.text == "43\n"


@pytest.mark.parametrize("fmt,ctype", [
    ("TabSeparated", "text/tab-separated-values"), ("TabSeparatedWithNames", "text/tab-separated-values"),
    ("CSVWithNames", "text/csv"), ("JSONEachRow", "application/x-ndjson"), ("JSON", "application/json"),
    ("Parquet", "application/octet-stream"), ("Arrow", "application/octet-stream"),
    ("Native", "application/octet-stream"),
])
def test_output_formats_pass_through(trace_store: StandinStore, fmt: str, ctype: str) -> None:
    sql = "SELECT 1 AS n, 'x' AS s"
    by_param = httpx.post(trace_store.query_url + "/", content=sql, params={"default_format": fmt},
                          auth=(trace_store.user, trace_store.password))
    by_clause = httpx.post(trace_store.query_url + "/", content=f"{sql} FORMAT {fmt}",
                           auth=(trace_store.user, trace_store.password))
    assert by_param.status_code == by_clause.status_code == 200
    assert by_param.headers["X-ClickHouse-Format"] == by_clause.headers["X-ClickHouse-Format"] == fmt
    assert by_param.headers["content-type"].startswith(ctype)
    if fmt in ("Parquet", "Arrow"):
        import io

        import pyarrow.ipc
        import pyarrow.parquet

        table = (pyarrow.parquet.read_table(io.BytesIO(by_param.content)) if fmt == "Parquet"
                 else pyarrow.ipc.open_file(io.BytesIO(by_param.content)).read_all())
        assert table.column_names == ["n", "s"] and table.num_rows == 1
    elif fmt == "JSON":
        assert by_param.json()["data"] == [{"n": 1, "s": "x"}]
    elif fmt == "CSVWithNames":
        assert by_param.text == '"n","s"\n1,"x"\n'


@pytest.mark.parametrize("hostile", [
    "'; DROP TABLE otel_2.otel_traces; --", "a' OR '1'='1", "\\' OR 1=1 --", "{t:String}", "`x`", "😀 ümlaut",
])
def test_query_parameters_are_data_not_sql(trace_store: StandinStore, hostile: str) -> None:
    trace_id = uuid.uuid4().hex
    post(trace_store, make_export_request(trace_id=trace_id, attributes={"tag": hostile}).SerializeToString(),
         bearer=token(trace_store))
    # ClickHouse parses param_ values in the escaped (TabSeparated) format: clients escape backslashes.
    escaped = hostile.replace("\\", "\\\\")
    echoed = json.loads(trace_store.query("SELECT {v:String} AS v", {"v": escaped}, fmt="JSONEachRow"))["v"]
    assert echoed == hostile
    found = trace_store.count("SpanAttributes['tag'] = {v:String} AND TraceId = {t:String}",
                              {"v": escaped, "t": trace_id})
    assert found == 1
    assert trace_store.count("1") > 0  # the table is still there


def test_errors_come_back_like_clickhouse(trace_store: StandinStore) -> None:
    auth = (trace_store.user, trace_store.password)
    cases = {
        "SELECT no_such_column": (404, "47", "UNKNOWN_IDENTIFIER"),
        "SELECT * FROM otel_2.no_such_table": (404, "60", "UNKNOWN_TABLE"),
        "SELEC 1": (400, "62", "SYNTAX_ERROR"),
        "SELECT {x:UInt8}": (400, "456", "UNKNOWN_QUERY_PARAMETER"),
    }
    for sql, (status, code, name) in cases.items():
        response = httpx.post(trace_store.query_url + "/", content=sql, auth=auth)
        assert response.status_code == status, (sql, response.text)
        assert response.headers["X-ClickHouse-Exception-Code"] == code
        assert response.text.startswith(f"Code: {code}. DB::Exception: ") and f"({name})" in response.text
        assert response.text.rstrip().endswith(")") and "(version " in response.text
    bad_param = httpx.post(trace_store.query_url + "/", content="SELECT {x:UInt8}", params={"param_x": "nope"},
                           auth=auth)
    assert bad_param.status_code == 400 and bad_param.headers["X-ClickHouse-Exception-Code"] == "457"
    unknown_db = httpx.post(trace_store.query_url + "/", content="SELECT 1", params={"database": "nope"}, auth=auth)
    assert unknown_db.status_code == 404 and "(UNKNOWN_DATABASE)" in unknown_db.text


def test_get_is_read_only_and_post_can_write(trace_store: StandinStore) -> None:
    auth = (trace_store.user, trace_store.password)
    create = "CREATE TABLE default.t_ro (a Int8) ENGINE=Memory"
    denied = httpx.get(trace_store.query_url + "/", params={"query": create}, auth=auth)
    assert denied.status_code == 403 and denied.headers["X-ClickHouse-Exception-Code"] == "164"
    table = f"default.t_{uuid.uuid4().hex[:8]}"
    ok = httpx.post(trace_store.query_url + "/", content=f"CREATE TABLE {table} (a Int32, s String) ENGINE=Memory",
                    auth=auth)
    assert ok.status_code == 200, ok.text
    insert = httpx.post(trace_store.query_url + "/", params={"query": f"INSERT INTO {table} FORMAT JSONEachRow"},
                        content=b'{"a":1,"s":"x"}\n{"a":2,"s":"y"}\n', auth=auth)
    assert insert.status_code == 200, insert.text
    assert trace_store.query(f"SELECT sum(a), groupArray(s) FROM {table}") == "3\t['x','y']\n"


def test_binary_inserts_with_the_data_in_the_body(trace_store: StandinStore) -> None:
    """Clients send rows as Parquet (binary) in the body, the statement in the URL: ClickHouse accepts it."""
    import io

    import pandas as pd

    auth = (trace_store.user, trace_store.password)
    table = f"default.t_{uuid.uuid4().hex[:8]}"
    created = httpx.post(trace_store.query_url + "/", content=f"CREATE TABLE {table} (a Int32, s String) "
                         "ENGINE=MergeTree ORDER BY a", auth=auth)
    assert created.status_code == 200, created.text
    buffer = io.BytesIO()
    pd.DataFrame({"s": ["é", "\x00bin"], "a": [5, 7]}).to_parquet(buffer)  # columns out of order: by name
    insert = httpx.post(trace_store.query_url + "/", params={"query": f"INSERT INTO {table} FORMAT Parquet"},
                        content=buffer.getvalue(), auth=auth)
    assert insert.status_code == 200, insert.text
    assert trace_store.query(f"SELECT sum(a), count() FROM {table}") == "12\t2\n"
    bad = httpx.post(trace_store.query_url + "/", params={"query": f"INSERT INTO {table} FORMAT Parquet"},
                     content=b"not parquet", auth=auth)
    assert bad.status_code != 200 and "X-ClickHouse-Exception-Code" in bad.headers
    assert trace_store.query(f"SELECT count() FROM {table}") == "2\n"


def test_database_parameter_sets_the_current_database(trace_store: StandinStore) -> None:
    sql = "SELECT currentDatabase(), count() >= 0 FROM otel_traces"
    response = httpx.post(trace_store.query_url + "/", content=sql,
                          params={"database": "otel_2"}, auth=(trace_store.user, trace_store.password))
    assert response.status_code == 200 and response.text == "otel_2\t1\n"
    assert trace_store.query("SELECT currentDatabase()") == "default\n"


def test_a_missing_table_makes_exports_fail_quietly_like_upstream(start_trace_store) -> None:
    store = start_trace_store(create_schema=False)
    response = post(store, make_export_request().SerializeToString(), bearer=token(store))
    assert response.status_code == 200  # the batch processor has already answered upstream
    assert "UNKNOWN_DATABASE" in store.log_text() or "UNKNOWN_TABLE" in store.log_text()


# --- one process writes, another reads -----------------------------------------------------------

_WRITER = textwrap.dedent("""
    import os, sys, time, httpx
    from tests.plugins.agentops_standin import make_export_request
    url, bearer, trace_id = sys.argv[1:4]
    batches, per_batch = int(sys.argv[4]), int(sys.argv[5])
    while not os.path.exists(sys.argv[6]):  # start once the reader is reading
        time.sleep(0.01)
    with httpx.Client(headers={"Authorization": "Bearer " + bearer,
                               "Content-Type": "application/x-protobuf"}, timeout=60) as client:
        for _ in range(batches):
            body = make_export_request(trace_id=trace_id, spans=per_batch).SerializeToString()
            response = client.post(url, content=body)
            assert response.status_code == 200, response.text
    print("done")
""")

_READER = textwrap.dedent("""
    import json, sys, time, httpx
    url, password, trace_id, expected, started = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    counts, errors = [], []
    deadline = time.monotonic() + 120
    with httpx.Client(auth=("default", password), timeout=60) as client:
        while time.monotonic() < deadline:
            sql = "SELECT count() FROM otel_2.otel_traces WHERE TraceId = {t:String}"
            response = client.post(url + "/", content=sql, params={"param_t": trace_id})
            if response.status_code != 200:
                errors.append(response.text)
                continue
            counts.append(int(response.text))
            open(started, "a").close()
            if counts[-1] >= expected:
                break
    print(json.dumps({"counts": counts, "errors": errors}))
""")


def test_one_process_writes_while_another_reads(trace_store: StandinStore, tmp_path: Path) -> None:
    trace_id, batches, per_batch = uuid.uuid4().hex, 40, 25
    root, started = str(Path(__file__).resolve().parents[1]), str(tmp_path / "reader-started")
    reader = subprocess.Popen([sys.executable, "-c", _READER, trace_store.query_url, trace_store.password, trace_id,
                               str(batches * per_batch), started], stdout=subprocess.PIPE, cwd=root, text=True)
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, trace_store.otlp_url, token(trace_store), trace_id,
                               str(batches), str(per_batch), started], stdout=subprocess.PIPE, cwd=root, text=True)
    writer_out, _ = writer.communicate(timeout=300)
    reader_out, _ = reader.communicate(timeout=300)
    assert writer.returncode == 0 and writer_out.strip() == "done"
    assert reader.returncode == 0
    result = json.loads(reader_out)
    counts = result["counts"]
    assert result["errors"] == []
    assert counts == sorted(counts), "a reader saw the count go down"
    assert counts[-1] == batches * per_batch
    assert all(c % per_batch == 0 for c in counts), "a reader saw a half-written batch"
    assert len(set(counts)) > 2, "reads did not overlap the writes"


def test_chunked_and_gzip_request_bodies_are_read(trace_store: StandinStore) -> None:
    auth = (trace_store.user, trace_store.password)
    table = f"default.t_{uuid.uuid4().hex[:8]}"
    assert httpx.post(trace_store.query_url + "/", content=f"CREATE TABLE {table} (a Int32) ENGINE=Memory",
                      auth=auth).status_code == 200
    payload = gzip.compress(b"".join(b'{"a":%d}\n' % i for i in range(1000)))
    chunks = iter([payload[:100], payload[100:]])  # an iterator body goes out chunked
    response = httpx.post(trace_store.query_url + "/", params={"query": f"INSERT INTO {table} FORMAT JSONEachRow"},
                          content=chunks, headers={"Content-Encoding": "gzip"}, auth=auth)
    assert response.status_code == 200, response.text
    assert trace_store.query(f"SELECT count(), sum(a) FROM {table}") == "1000\t499500\n"
    # ClickHouse knows gzip, deflate, br, xz, zstd, lz4, bz2, snappy; anything else is NOT_IMPLEMENTED (48).
    bad = httpx.post(trace_store.query_url + "/", content=b"SELECT 1", headers={"Content-Encoding": "compress"},
                     auth=auth)
    assert bad.status_code == 501 and bad.headers["X-ClickHouse-Exception-Code"] == "48"
    corrupt = httpx.post(trace_store.query_url + "/", content=b"SELECT 1", headers={"Content-Encoding": "gzip"},
                         auth=auth)
    assert corrupt.status_code == 500 and corrupt.headers["X-ClickHouse-Exception-Code"] == "354"
