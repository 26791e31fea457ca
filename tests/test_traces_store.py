"""The trace stores: chDB over dumps (Parquet, JSONEachRow, folders), the ClickHouse HTTP client against
the sandbox store, and the failures a user can meet (missing dump, closed port, wrong password...)."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from runbook_lib.errors import TraceStoreError
from runbook_lib.traces.analytics import TraceAnalytics, TraceFilters
from runbook_lib.traces.store import ChdbFileStore, ClickHouseHttpStore, encode_param, store_from_params
from runbook_lib.traces.synthetic import generate_table, write_dump
from tests.plugins.traces import PROJECTS, TRACE_END, TRACE_START

pytestmark = pytest.mark.sandbox

HOSTILE = ["x' OR 1=1 --", "a\\b", "tab\there", "new\nline", "{x:String}", "ünï", "\\N", "cr\rx", "\\", "",
           "'); DROP TABLE t; --", 'quote"d']


def _tables(store, **kw):
    a = TraceAnalytics(store, TraceFilters.from_params(TRACE_START, TRACE_END, **kw),
                       app_url="http://dash.local")
    return a.all_tables(top_n=5)


def _same_tables(left, right):
    assert left.keys() == right.keys()
    for key in left:
        a, b = left[key].frame, right[key].frame
        assert list(a.columns) == list(b.columns), key
        assert len(a) == len(b), key
        for col in a.columns:
            x, y = a[col], b[col]
            if pd.api.types.is_float_dtype(x) or pd.api.types.is_float_dtype(y):
                pd.testing.assert_series_equal(x.astype(float), y.astype(float), check_names=False, rtol=1e-9,
                                               obj=f"{key}.{col}")
            elif pd.api.types.is_datetime64_any_dtype(x):
                assert (x.astype("int64") == y.astype("int64")).all() or (x.isna() & y.isna()).all(), (key, col)
            else:
                assert [str(v) for v in x] == [str(v) for v in y], (key, col)


def test_encoded_parameters_arrive_byte_for_byte(dump_store):
    for value in HOSTILE:
        df = dump_store.query_df("SELECT {v:String} AS v", {"v": value})
        assert df["v"].iloc[0] == value


def test_missing_placeholder_value_is_refused(dump_store):
    with pytest.raises(TraceStoreError, match="not given: x"):
        dump_store.query_df("SELECT {x:String}", {})


def test_jsonl_dump_gives_the_same_tables_as_parquet(dump_store, jsonl_dump):
    with ChdbFileStore(jsonl_dump) as js:
        assert js.format == "JSONEachRow"
        _same_tables(_tables(dump_store), _tables(js))


def test_folder_and_glob_of_dump_files(tmp_path, trace_data):
    half = trace_data.num_rows // 2
    write_dump(trace_data.slice(0, half), tmp_path / "part-1.parquet")
    write_dump(trace_data.slice(half), tmp_path / "part-2.parquet")
    for target in (tmp_path, tmp_path / "part-*.parquet"):
        with ChdbFileStore(target) as st:
            assert int(st.query_df("SELECT count() AS n FROM otel_2.otel_traces")["n"].iloc[0]) == trace_data.num_rows


def test_dump_carrying_project_id_column_still_derives_it(tmp_path):
    import pyarrow as pa

    table = generate_table(20, seed=3, project_ids=("pa",))
    with_col = table.append_column("project_id", pa.array(["stale"] * table.num_rows))
    path = tmp_path / "with_project.parquet"
    import pyarrow.parquet as pq

    pq.write_table(with_col, path)
    with ChdbFileStore(path) as st:
        df = st.query_df("SELECT DISTINCT project_id AS p FROM otel_2.otel_traces")
        assert df["p"].tolist() == ["pa"]


def test_store_closes_and_drops_its_view(parquet_dump):
    st = ChdbFileStore(parquet_dump)
    db = st.database
    st.close()
    with pytest.raises(TraceStoreError, match="closed"):
        st.query_df("SELECT 1")
    with ChdbFileStore(parquet_dump) as other:
        dbs = other.query_df("SELECT name FROM system.databases")["name"].tolist()
        assert db not in dbs


@pytest.mark.parametrize("name, content, match", [
    ("nothing-here.parquet", None, "does not exist"),
    ("notes.txt", b"hello", "cannot tell the dump format"),
    ("broken.parquet", b"this is not parquet at all", "cannot read"),
    ("broken.jsonl", b'{"Timestamp": "yesterday", "TraceId": 5}\n', "cannot read"),
])
def test_bad_dumps_are_explained(tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TraceStoreError, match=match) as err:
        ChdbFileStore(path)
    assert err.value.hint


def test_store_from_params_needs_exactly_one_source(parquet_dump):
    with pytest.raises(TraceStoreError, match="no trace store given"):
        store_from_params(None, "default", None, None)
    with pytest.raises(TraceStoreError, match="either trace_store_url or dump_path"):
        store_from_params("http://127.0.0.1:8123", "default", None, parquet_dump)
    with pytest.raises(TraceStoreError, match="http"):
        store_from_params("ftp://x", "default", None, None)


def test_closed_port_is_explained_quickly(closed_port_url):
    st = ClickHouseHttpStore(closed_port_url, "default", None, timeout_s=3)
    t0 = time.monotonic()
    with pytest.raises(TraceStoreError) as err:
        st.ping()
    assert time.monotonic() - t0 < 10
    assert "refused" in str(err.value).lower() and err.value.hint


def test_hanging_server_times_out(hanging_url):
    st = ClickHouseHttpStore(hanging_url, "default", None, timeout_s=1)
    t0 = time.monotonic()
    with pytest.raises(TraceStoreError) as err:
        st.query_df("SELECT 1")
    assert time.monotonic() - t0 < 10
    assert "1" in str(err.value) and err.value.hint


def test_a_web_page_is_not_a_clickhouse_server(fake_dashboard):
    st = ClickHouseHttpStore(fake_dashboard.url, "default", None, timeout_s=5)
    with pytest.raises(TraceStoreError) as err:
        st.ping()
    assert "8123" in (err.value.hint or "")


# --------------------------------------------------------------------------- the sandbox store over HTTP


def test_http_store_gives_the_same_tables_as_the_dump(http_trace_store, dump_store):
    _same_tables(_tables(dump_store), _tables(http_trace_store))
    _same_tables(_tables(dump_store, project_id=PROJECTS[1], tag="prod"),
                 _tables(http_trace_store, project_id=PROJECTS[1], tag="prod"))


def test_http_store_binds_hostile_values(http_trace_store):
    for value in HOSTILE:
        assert http_trace_store.query_df("SELECT {v:String} AS v", {"v": value})["v"].iloc[0] == value
    a = TraceAnalytics(http_trace_store, TraceFilters.from_params(TRACE_START, TRACE_END,
                                                                  project_id="x' OR '1'='1"))
    assert int(a.coverage().frame.iloc[0]["spans"]) == 0
    n = http_trace_store.query_df("SELECT count() AS n FROM otel_2.otel_traces")["n"].iloc[0]
    assert int(n) > 0


def test_http_store_wrong_password_is_explained_without_the_secret(http_trace_store, monkeypatch):
    monkeypatch.setenv("RUNBOOK_TEST_WRONG_PW", "definitely-wrong-pw-123")
    st = ClickHouseHttpStore(http_trace_store.url, "default", "env:RUNBOOK_TEST_WRONG_PW")
    with pytest.raises(TraceStoreError) as err:
        st.query_df("SELECT 1")
    text = str(err.value)
    assert "516" in text or "credentials" in text or "password" in text
    assert "trace_store_password" in (err.value.hint or "")
    assert "definitely-wrong-pw-123" not in text


def test_http_store_unknown_table_hint(http_trace_store):
    st = ClickHouseHttpStore(http_trace_store.url, "default", "env:RUNBOOK_TEST_TRACE_STORE_PASSWORD",
                             table="otel_9.otel_traces")
    with pytest.raises(TraceStoreError) as err:
        st.query_df("SELECT count() FROM otel_2.otel_traces")
    assert "migration" in (err.value.hint or "") or "CREATE DATABASE" in (err.value.hint or "")


def test_http_export_of_spans(http_trace_store, tmp_path):
    a = TraceAnalytics(http_trace_store, TraceFilters.from_params(TRACE_START, TRACE_END, project_id=PROJECTS[0]))
    path = a.export_spans(tmp_path / "p.parquet", limit=50)
    import pyarrow.parquet as pq

    assert pq.read_table(path).num_rows == 50


def test_encode_param_types():
    import datetime as dt

    assert encode_param(True) == "1" and encode_param(7) == "7" and encode_param(0.5) == "0.5"
    assert encode_param(dt.datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc)) == "2025-01-02 03:04:05.000006"
    assert encode_param("a\\b\n") == "a\\\\b\\n"
    with pytest.raises(TypeError):
        encode_param(object())


def test_chdb_session_store_runs_the_same_sql_over_a_real_table(trace_data, dump_store):
    from runbook_lib.traces.store import ChdbSessionStore
    from runbook_lib.traces.synthetic import insert_traces

    st = ChdbSessionStore(database="runbook_test_session")
    try:
        st.drop()
        st = ChdbSessionStore(database="runbook_test_session")
        assert insert_traces(st, trace_data) == trace_data.num_rows
        _same_tables(_tables(dump_store, project_id=PROJECTS[0]), _tables(st, project_id=PROJECTS[0]))
    finally:
        st.drop()
        st.close()


def test_http_store_without_pyarrow_format_gives_the_same_tables(http_trace_store, dump_store):
    st = ClickHouseHttpStore(http_trace_store.url, "default", "env:RUNBOOK_TEST_TRACE_STORE_PASSWORD",
                             result_format="JSONCompactEachRowWithNamesAndTypes")
    try:
        _same_tables(_tables(dump_store, project_id=PROJECTS[0]), _tables(st, project_id=PROJECTS[0]))
    finally:
        st.close()
