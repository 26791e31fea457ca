"""Where spans are read from: one interface, three backends.

* :class:`ClickHouseHttpStore` speaks the ClickHouse HTTP interface (port 8123) with httpx: the
  query goes in ``?query=``, each ``{name:Type}`` placeholder is bound with a ``param_<name>``
  query-string value, results come back as Parquet (or ``JSONCompactEachRowWithNamesAndTypes``
  without pyarrow). It serves a real ClickHouse server and the sandbox's chDB-backed store.
* :class:`ChdbFileStore` runs the same SQL in embedded chDB over an exported dump of
  ``otel_traces`` (Parquet or JSONEachRow files), behind a view that stands in for the table.
* :class:`ChdbSessionStore` keeps a real ``otel_2.otel_traces`` MergeTree table in a chDB session
  (for tests and benchmarks).

All SQL is written against ``otel_2.otel_traces`` (:data:`~runbook_lib.traces.schema.QUALIFIED`);
a store maps that name to its own table. Filter values are always bound, never interpolated.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob as globlib
import io
import json
import math
import re
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import TraceStoreError
from ..secrets import SecretRef, redact, redact_and_cut_known
from . import schema
from .schema import quote_string

__all__ = [
    "ChdbFileStore",
    "ChdbSessionStore",
    "ClickHouseHttpStore",
    "DUMP_REQUIRED_COLUMNS",
    "MAX_RESULT_BYTES",
    "TraceStore",
    "encode_param",
    "store_from_params",
]

#: The largest answer a query may return over HTTP (analytics results are aggregates, not dumps).
MAX_RESULT_BYTES = 1024 * 1024 * 1024
#: Output formats accepted by :meth:`TraceStore.export`, by file suffix.
EXPORT_FORMATS = {"parquet": "Parquet", "csv": "CSVWithNames", "jsonl": "JSONEachRow", "json": "JSONEachRow"}
_PLACEHOLDER = re.compile(r"\{(\w+):")


def encode_param(value: Any) -> str:
    """A Python value as ClickHouse expects a query parameter (``param_x`` / chDB ``params``).

    Strings are sent in ClickHouse's escaped form (backslash, tab, newline, CR, NUL escaped) so
    they arrive byte for byte; the server treats them as data of the declared type, never as SQL.
    """
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise TypeError(f"unsupported query parameter type {type(value).__name__}")
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r").replace("\0", "\\0"))


def _check_params(sql: str, params: Mapping[str, Any] | None) -> dict[str, str]:
    params = dict(params or {})
    wanted = set(_PLACEHOLDER.findall(sql))
    missing = wanted - set(params)
    if missing:
        raise TraceStoreError(f"query parameters not given: {', '.join(sorted(missing))}",
                              hint="pass a value for every {name:Type} placeholder")
    return {k: encode_param(v) for k, v in params.items() if k in wanted}


def normalise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Uniform result types across backends: text as ``str``, timestamps as naive UTC."""
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            df[col] = s.dt.tz_convert("UTC").dt.tz_localize(None)
        elif s.dtype == object and len(s) and isinstance(s.iloc[0], (bytes, bytearray)):
            df[col] = s.map(lambda b: b.decode("utf-8", "replace") if isinstance(b, (bytes, bytearray)) else b)
    for col in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[col].dtype) and df[col].dtype != "datetime64[ns]":
            df[col] = df[col].astype("datetime64[ns]")
    return df


def _export_format(path: Path, fmt: str | None) -> str:
    if fmt:
        return EXPORT_FORMATS.get(fmt.lower().lstrip("."), fmt)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in EXPORT_FORMATS:
        raise TraceStoreError(f"cannot tell the export format of {path.name}",
                              hint=f"use a file ending in one of {', '.join('.' + s for s in EXPORT_FORMATS)}")
    return EXPORT_FORMATS[suffix]


class TraceStore(ABC):
    """Runs ClickHouse SQL written against ``otel_2.otel_traces`` and returns pandas frames."""

    #: The table the SQL's ``otel_2.otel_traces`` stands for in this store.
    table: str = schema.QUALIFIED
    #: Short description for reports (no credentials).
    description: str = ""
    #: The engine that runs the SQL: ``clickhouse`` (a server over HTTP) or ``chdb`` (embedded).
    engine: str = "clickhouse"

    def bind_table(self, sql: str) -> str:
        return sql if self.table == schema.QUALIFIED else sql.replace(schema.QUALIFIED, self.table)

    @abstractmethod
    def query_df(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run one SELECT with bound parameters; return its rows as a DataFrame."""

    @abstractmethod
    def query_bytes(self, sql: str, params: Mapping[str, Any] | None, fmt: str) -> bytes:
        """Run one SELECT and return its result serialised in ClickHouse output format ``fmt``."""

    def export(self, sql: str, params: Mapping[str, Any] | None, path: str | Path,
               fmt: str | None = None) -> Path:
        """Write a query's result to ``path`` (Parquet, CSV or JSONEachRow, from the suffix or ``fmt``)."""
        path = Path(path)
        ch_fmt = _export_format(path, fmt)
        data = self.query_bytes(sql, params, ch_fmt)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        return path

    def ping(self) -> None:
        """Raise TraceStoreError when the store cannot answer a trivial query."""
        self.query_df("SELECT 1 AS ok")

    def close(self) -> None:  # noqa: B027 - stores without connections have nothing to release
        """Release connections; the store cannot be used afterwards."""

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


# --------------------------------------------------------------------------- ClickHouse over HTTP

_CH_CODE = re.compile(r"Code:\s*(\d+)")
_CODE_HINTS: dict[int, tuple[str, str]] = {
    516: ("authentication failed (wrong user or password)",
          "check trace_store_user and the secret behind trace_store_password (CLICKHOUSE_USER / "
          "CLICKHOUSE_PASSWORD of the deployment)"),
    192: ("unknown user", "check trace_store_user"),
    194: ("wrong password", "check the secret behind trace_store_password"),
    497: ("the user may not read this table", "GRANT SELECT ON otel_2.* TO the user, or use another user"),
    60: ("the traces table does not exist",
         "apply the AgentOps ClickHouse migration 0000_init.sql (after CREATE DATABASE otel_2), or point "
         "the store at the right table"),
    81: ("the database does not exist", "CREATE DATABASE otel_2 and apply the AgentOps ClickHouse migrations"),
    62: ("the query is not valid SQL for this server", "report this as a runbook bug with the server version"),
    46: ("the server lacks a function this query uses",
         "use ClickHouse 24.2 or newer (the trace scan uses groupArraySorted; AgentOps's compose file runs 24.12)"),
    159: ("the query ran out of time on the server", "narrow the time window or raise the server's max_execution_time"),
    241: ("the server ran out of memory", "narrow the time window, or raise max_memory_usage"),
    164: ("the user is read-only and the query needs a setting change",
          "use a user whose profile allows it, or report this as a runbook bug"),
}


def _explain_clickhouse(status: int, text: str, code_header: str | None) -> tuple[str, str]:
    code = int(code_header) if code_header and code_header.isdigit() else None
    if code is None and (m := _CH_CODE.search(text)):
        code = int(m[1])
    if code in _CODE_HINTS:
        what, fix = _CODE_HINTS[code]
        return f"{what} (ClickHouse code {code})", fix
    if status in (401, 403):
        return f"the server refused the credentials (HTTP {status})", "check trace_store_user and trace_store_password"
    if status == 404:
        return ("HTTP 404: this URL is not a ClickHouse HTTP interface",
                "point trace_store_url at ClickHouse's HTTP port (8123 by default), without a path")
    where = f"ClickHouse code {code}" if code is not None else f"HTTP {status}"
    return f"the server rejected the query ({where})", "read the server message above; check the server log"


class ClickHouseHttpStore(TraceStore):
    """A ClickHouse server (or the sandbox's store) reached over its HTTP interface.

    ``password_ref`` is a secret reference (``env:NAME`` / ``file:PATH``), resolved at first use.
    Every call is bounded by one total deadline of ``timeout_s`` (connect, headers and body) and reads at
    most :data:`MAX_RESULT_BYTES` of answer.
    """

    def __init__(self, url: str, user: str | None = "default", password_ref: str | None = None, *,
                 table: str = schema.QUALIFIED, timeout_s: float = 60.0,
                 result_format: str | None = None) -> None:
        import httpx

        try:
            parsed = httpx.URL(url)
        except Exception:
            raise TraceStoreError("trace_store_url is not a URL",
                                  hint="use http://host:8123 (the ClickHouse HTTP port)") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise TraceStoreError(f"trace_store_url must be http(s)://host:port, got {parsed.scheme or 'no'} scheme",
                                  hint="use http://host:8123 (the ClickHouse HTTP port)")
        self.url = str(parsed.copy_with(query=None, fragment=None, username=None, password=None))
        self.user = user or "default"
        self._password_ref = SecretRef.parse(password_ref, name="trace_store_password") if password_ref else None
        self.table = table
        self.timeout_s = timeout_s
        self.result_format = result_format or ("Parquet" if _have_pyarrow() else "JSONCompactEachRowWithNamesAndTypes")
        self.description = f"ClickHouse HTTP {self._display_url()} table {table}"
        self._client: Any = None
        self._lock = threading.Lock()

    def _display_url(self) -> str:
        from ..http import display_url

        return display_url(self.url)

    def _http(self) -> Any:
        from ..http import make_client

        with self._lock:
            if self._client is None:
                headers = {"X-ClickHouse-User": self.user}
                if self._password_ref is not None:
                    headers["X-ClickHouse-Key"] = self._password_ref.resolve()
                self._client = make_client(timeout_s=self.timeout_s, headers=headers)
            return self._client

    def _send(self, method: str, url: str, **kwargs: Any) -> Any:
        """One call under a total deadline of ``timeout_s`` (connect, headers and body: a server that
        drips its answer is cut off) and a body limit; a transport failure is a TraceStoreError."""
        from ..errors import ServiceError
        from ..http import request

        try:
            return request(self._http(), method, url, service="ClickHouse (trace store)", timeout_s=self.timeout_s,
                           max_body_bytes=MAX_RESULT_BYTES, **kwargs)
        except ServiceError as exc:
            raise TraceStoreError(exc.message, hint=exc.hint) from None

    def _post(self, sql: str, params: Mapping[str, Any] | None, fmt: str | None, body: bytes = b"") -> bytes:
        qs: dict[str, str] = {"query": self.bind_table(sql)}
        if fmt:
            qs["default_format"] = fmt
        if params is not None:
            for name, value in _check_params(sql, params).items():
                qs[f"param_{name}"] = value
        response = self._send("POST", self.url, params=qs, content=body)
        if response.status_code != 200:
            text = redact_and_cut_known(response.text[:65536], 600, one_line=False).strip()
            what, fix = _explain_clickhouse(response.status_code, text,
                                            response.headers.get("X-ClickHouse-Exception-Code"))
            first = text.splitlines()[0][:300] if text else ""
            raise TraceStoreError(f"trace store at {self._display_url()}: {what}" + (f"\n  server said: {first}"
                                                                                       if first else ""),
                                  hint=fix)
        exc_code = response.headers.get("X-ClickHouse-Exception-Code")
        if exc_code:  # an error after the headers were sent (mid-stream failure)
            what, fix = _explain_clickhouse(500, "", exc_code)
            raise TraceStoreError(f"trace store at {self._display_url()}: {what} while sending the result", hint=fix)
        return response.content

    def query_bytes(self, sql: str, params: Mapping[str, Any] | None, fmt: str) -> bytes:
        return self._post(sql, params or {}, fmt)

    def query_df(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        data = self._post(sql, params or {}, self.result_format)
        try:
            if self.result_format == "Parquet":
                df = pd.read_parquet(io.BytesIO(data))
            else:
                df = _read_json_compact_with_types(data)
        except Exception as exc:
            head = redact_and_cut_known(data[:65536].decode("utf-8", "replace"), 120)
            raise TraceStoreError(
                f"trace store at {self._display_url()} answered with something that is not a "
                f"{self.result_format} result ({type(exc).__name__}): {head!r}",
                hint="point trace_store_url at a ClickHouse HTTP interface (port 8123)",
            ) from None
        return normalise_frame(df)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None, body: bytes = b"") -> None:
        """Run a statement that returns no rows (DDL, ``INSERT ... FORMAT x`` with ``body`` as data)."""
        self._post(sql, params, None, body)

    def ping(self) -> None:
        r = self._send("GET", self.url.rstrip("/") + "/ping")
        if r.status_code != 200 or not r.text.startswith("Ok"):
            raise TraceStoreError(f"{self._display_url()}/ping answered HTTP {r.status_code}, not 'Ok.'",
                                  hint="point trace_store_url at ClickHouse's HTTP port (8123 by default)")
        self.query_df("SELECT 1 AS ok")  # checks the credentials too

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _have_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


_INT = re.compile(r"^(Nullable\()?(U?Int\d+)")
_FLOAT = re.compile(r"^(Nullable\()?(Float\d+|Decimal)")
_TIME = re.compile(r"^(Nullable\()?(DateTime|Date)")


def _read_json_compact_with_types(data: bytes) -> pd.DataFrame:
    lines = data.decode("utf-8").splitlines()
    if len(lines) < 2:
        raise ValueError("no names/types header")
    names, types = json.loads(lines[0]), json.loads(lines[1])
    rows = [json.loads(line) for line in lines[2:] if line]
    df = pd.DataFrame(rows, columns=names)
    for name, ctype in zip(names, types, strict=False):
        ctype = ctype.replace("LowCardinality(", "")
        if _INT.match(ctype):
            df[name] = pd.to_numeric(df[name]).astype("int64" if "Nullable" not in ctype else "Int64")
        elif _FLOAT.match(ctype):
            df[name] = pd.to_numeric(df[name]).astype("float64")
        elif _TIME.match(ctype):
            tz = re.search(r"'([^']+)'", ctype)
            parsed = pd.to_datetime(df[name])
            df[name] = parsed.dt.tz_localize(tz[1]) if tz and parsed.dt.tz is None else parsed
    return df


# --------------------------------------------------------------------------- embedded chDB

_chdb_lock = threading.RLock()
_chdb_path: str | None = None  # the path chDB's one embedded server was opened with in this process


def _chdb_session(path: str | None = None, *, exact: bool = False) -> Any:
    """A chDB session. chDB runs one embedded server per process; with ``exact=False`` an already
    open server is reused whatever its path, with ``exact=True`` the path must match."""
    global _chdb_path
    try:
        from chdb import session as chdb_session
    except ImportError:
        raise TraceStoreError("chDB is not installed, so dump files cannot be analysed here",
                              hint="pip install 'agentops-runbooks[sandbox]' (chdb), or use trace_store_url") from None
    with _chdb_lock:
        want = path if path else (_chdb_path if _chdb_path and not exact else None)
        try:
            sess = chdb_session.Session(want) if want else chdb_session.Session()
        except Exception as exc:
            m = re.search(r"already initialized with path '([^']*)'", str(exc))
            if m and not exact:
                other = None if m[1] in ("", ":memory:") else m[1]
                sess = chdb_session.Session(other) if other else chdb_session.Session()
                want = other
            elif m:
                raise TraceStoreError(
                    f"chDB already runs with data path {m[1]!r} in this process; it cannot open {path!r} too",
                    hint="use one chDB data path per process (run the other analysis in a separate process)",
                ) from None
            else:
                raise TraceStoreError(f"chDB could not start: {redact(str(exc))[:300]}",
                                      hint="check the chDB installation and the data path") from None
        _chdb_path = want
        return sess


def _chdb_error(exc: Exception, what: str) -> TraceStoreError:
    text = redact(str(exc)).strip()
    first = text.splitlines()[0][:400] if text else type(exc).__name__
    m = _CH_CODE.search(text)
    code = int(m[1]) if m else None
    fix = _CODE_HINTS.get(code, ("", "read the message; a malformed dump or a runbook bug"))[1] if code else (
        "read the message; a malformed dump or a runbook bug")
    if code == 636 or "CANNOT_EXTRACT_TABLE_STRUCTURE" in text or "Cannot parse" in text:
        fix = "the dump does not look like an otel_traces export; re-export with SELECT * FROM otel_2.otel_traces"
    return TraceStoreError(f"{what}: {first}", hint=fix)


class _ChdbStore(TraceStore):
    engine = "chdb"
    _session: Any

    def _query(self, sql: str, params: Mapping[str, Any] | None, fmt: str) -> Any:
        encoded = _check_params(sql, params) if params is not None else {}
        with _chdb_lock:
            if self._session is None:
                raise TraceStoreError("the trace store is closed", hint="open a new store")
            try:
                return self._session.query(self.bind_table(sql), fmt, params=encoded or None)
            except Exception as exc:
                raise _chdb_error(exc, f"query on {self.description} failed") from None

    def query_df(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        df = self._query(sql, params or {}, "DataFrame")
        return normalise_frame(df)

    def query_bytes(self, sql: str, params: Mapping[str, Any] | None, fmt: str) -> bytes:
        res = self._query(sql, params or {}, fmt)
        return res.bytes() if hasattr(res, "bytes") else bytes(res)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._query(sql, params or {}, "CSV")


#: Columns a dump must have (every other otel_traces column may be absent and is read as its default).
DUMP_REQUIRED_COLUMNS = ("Timestamp", "TraceId", "SpanId", "SpanName", "Duration", "StatusCode", "SpanAttributes",
                         "ResourceAttributes")

_DUMP_FORMATS = {".parquet": "Parquet", ".pq": "Parquet", ".jsonl": "JSONEachRow", ".ndjson": "JSONEachRow",
                 ".json": "JSONEachRow"}


def _dump_format(name: str) -> str | None:
    lowered = name.lower()
    for comp in (".gz", ".zst", ".xz", ".bz2", ".lz4"):
        if lowered.endswith(comp):
            lowered = lowered[: -len(comp)]
    return _DUMP_FORMATS.get(Path(lowered).suffix)


def dump_structure(utc_timestamps: bool = True) -> str:
    """The otel_traces columns as a ``file()`` structure (timestamps read as UTC)."""
    cols = []
    for name, ctype in schema.COLUMNS:
        if utc_timestamps:
            ctype = ctype.replace("DateTime64(9)", "DateTime64(9, 'UTC')")
        cols.append(f"`{name}` {ctype}")
    return ", ".join(cols)


class ChdbFileStore(_ChdbStore):
    """Embedded chDB over a dump of ``otel_traces``: a Parquet or JSONEachRow file, a glob, or a
    folder of such files. A view stands in for ``otel_2.otel_traces`` (with ``project_id`` derived
    from ``ResourceAttributes['agentops.project.id']`` as upstream's MATERIALIZED column is).

    Text timestamps in JSON dumps are read as UTC.
    """

    def __init__(self, dump_path: str | Path, *, materialize: bool = False) -> None:
        self.dump_path = Path(dump_path).expanduser()
        files = self._files()
        fmts = {_dump_format(f) for f in files}
        if None in fmts or len(fmts) != 1:
            raise TraceStoreError(
                f"{self.dump_path}: cannot tell the dump format from the file names",
                hint="dumps are .parquet or .jsonl/.ndjson/.json (JSONEachRow) files, optionally .gz/.zst, "
                     "all of one format",
            )
        self.format = fmts.pop() or "Parquet"
        self.files = files
        self.database = f"runbook_dump_{uuid.uuid4().hex[:12]}"
        self.table = f"{self.database}.otel_traces"
        self.description = f"dump {self.dump_path} ({self.format}, {len(files)} file{'s' * (len(files) != 1)})"
        self._session = _chdb_session()
        # read dumps with pread, not mmap: mapped file pages count in the process's resident memory
        # (about 180 MB more at 10M spans), for no gain in speed
        self._session.query("SET storage_file_read_method = 'pread'")
        self._check_columns(files)
        source = self._source_expr(files)
        try:
            self._session.query(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            select = (f"SELECT *, ResourceAttributes['agentops.project.id'] AS project_id FROM {source}")
            if materialize:
                utc_cols = dump_structure()
                self._session.query(
                    f"CREATE TABLE {self.table} ({utc_cols}, `project_id` String MATERIALIZED "
                    f"{schema.PROJECT_ID_EXPRESSION}) ENGINE = MergeTree ORDER BY (project_id, Timestamp)")
                names = ", ".join(f"`{n}`" for n, _ in schema.COLUMNS)
                self._session.query(f"INSERT INTO {self.table} ({names}) SELECT {names} FROM {source}")
            else:
                self._session.query(f"CREATE VIEW {self.table} AS {select}")
            self._session.query(f"SELECT count() FROM {self.table} WHERE Timestamp < toDateTime64(0, 9, 'UTC')",
                                "CSV")
        except Exception as exc:
            self._drop()
            raise _chdb_error(exc, f"cannot read {self.description}") from None

    def _files(self) -> list[str]:
        p = self.dump_path
        if any(ch in str(p) for ch in "*?["):
            files = sorted(globlib.glob(str(p)))
        elif p.is_dir():
            files = sorted(str(f) for f in p.iterdir() if f.is_file() and _dump_format(f.name))
        elif p.is_file():
            files = [str(p.resolve())]
        else:
            raise TraceStoreError(
                f"dump_path {p} does not exist",
                hint="pass the path of an otel_traces export (.parquet or .jsonl) or a folder of them")
        if not files:
            raise TraceStoreError(f"dump_path {p} holds no .parquet/.jsonl files",
                                  hint="export otel_traces with SELECT * FROM otel_2.otel_traces FORMAT Parquet")
        return [str(Path(f).resolve()) for f in files]

    def _check_columns(self, files: list[str]) -> None:
        """Refuse a dump whose files lack the columns the runbooks read (read as-is, such a dump
        would give every row default values: an empty window instead of an error)."""
        for f in files:
            try:
                described = self._session.query(f"DESCRIBE file({quote_string(f)}, {quote_string(self.format)})",
                                                "CSV")
            except Exception as exc:
                raise _chdb_error(exc, f"cannot read {self.description}") from None
            names = {line.split(",", 1)[0].strip('"') for line in str(described).splitlines() if line}
            missing = [c for c in DUMP_REQUIRED_COLUMNS if c not in names]
            if missing:
                other = sorted(names - {n for n, _ in schema.COLUMNS})[:8]
                raise TraceStoreError(
                    f"cannot read {self.description}: {Path(f).name} is not an otel_traces export: it lacks "
                    f"{', '.join(missing)}"
                    + (f" (it has {', '.join(other)})" if other else ""),
                    hint="export the table itself: SELECT * FROM otel_2.otel_traces FORMAT Parquet "
                         "(or JSONEachRow)")

    def _source_expr(self, files: list[str]) -> str:
        structure = quote_string(dump_structure())
        parts = [f"file({quote_string(f)}, {quote_string(self.format)}, {structure})" for f in files]
        if len(parts) == 1:
            return parts[0]
        return "(" + " UNION ALL ".join(f"SELECT * FROM {p}" for p in parts) + ")"

    def _drop(self) -> None:
        with contextlib.suppress(Exception):
            self._session.query(f"DROP DATABASE IF EXISTS {self.database}")

    def close(self) -> None:
        with _chdb_lock:
            if self._session is not None:
                self._drop()
                self._session = None


class ChdbSessionStore(_ChdbStore):
    """A real ``otel_traces`` MergeTree table (``<database>.otel_traces``, created when missing) in
    a chDB session, for tests, benchmarks and offline experiments.

    ``path=None`` shares the chDB data folder already open in this process (or an in-memory one);
    a given ``path`` must be the only one the process uses (chDB runs one embedded server).
    """

    def __init__(self, path: str | Path | None = None, *, database: str = schema.DATABASE) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
            raise TraceStoreError(f"database name {database!r} is not a plain identifier",
                                  hint="use letters, digits and underscores")
        self.path = str(path) if path else None
        self.database = database
        self.table = f"{database}.{schema.TABLE}"
        self.description = f"chDB session {self.path or '(shared)'} table {self.table}"
        self._session = _chdb_session(self.path, exact=bool(path))
        self.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
        self.execute(schema.create_table_sql(self.table))

    def insert_file(self, path: str | Path) -> None:
        """Append the rows of a Parquet/JSONEachRow dump of otel_traces (``project_id`` is derived)."""
        fmt = _dump_format(str(path))
        if fmt is None:
            raise TraceStoreError(f"cannot tell the format of {path}", hint="use .parquet or .jsonl")
        names = ", ".join(f"`{n}`" for n, _ in schema.COLUMNS)
        src = f"file({quote_string(str(Path(path).resolve()))}, {quote_string(fmt)}, {quote_string(dump_structure())})"
        self.execute(f"INSERT INTO {schema.QUALIFIED} ({names}) SELECT {names} FROM {src}")

    def drop(self) -> None:
        """Drop this store's table (the data is gone)."""
        self.execute(f"DROP TABLE IF EXISTS {schema.QUALIFIED}")

    def close(self) -> None:
        with _chdb_lock:
            if self._session is not None:
                self._session = None


# --------------------------------------------------------------------------- factory


def store_from_params(trace_store_url: str | None = None, user: str | None = "default",
                      password_ref: str | None = None, dump_path: str | Path | None = None,
                      **kwargs: Any) -> TraceStore:
    """The store a notebook's parameters describe: a dump file (``dump_path``) or a server
    (``trace_store_url``). Exactly one must be given."""
    if trace_store_url and dump_path:
        raise TraceStoreError("give either trace_store_url or dump_path, not both",
                              hint="clear one of the two parameters")
    if dump_path:
        return ChdbFileStore(dump_path, **kwargs)
    if trace_store_url:
        return ClickHouseHttpStore(trace_store_url, user, password_ref, **kwargs)
    raise TraceStoreError("no trace store given",
                          hint="set trace_store_url (ClickHouse HTTP, e.g. http://127.0.0.1:8123) or dump_path "
                               "(a Parquet/JSONEachRow export of otel_traces)")
