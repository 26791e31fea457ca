"""The OTLP/HTTP trace collector of the sandbox, shaped like AgentOps' collector pipeline.

Upstream (``app/opentelemetry-collector/config/`` in AgentOps, collector-contrib 0.121 fork):
``otlp`` receiver with ``jwtauthextension`` -> ``resource`` processor (upserts ``ProjectId`` and
``agentops.project.id`` from the token's ``project_id`` claim, overriding the client) -> ``transform``
(``gen_ai.usage.prompt_cost``/``completion_cost`` from token counts and a price table) -> ``batch``
-> ``clickhouse`` exporter writing ``otel_2.otel_traces``. This module reproduces that path:

- :func:`decode_request` reads an ``ExportTraceServiceRequest`` from protobuf or OTLP JSON (hex ids),
  gzip/deflate bodies included; both encodings give the same message;
- :func:`request_to_rows` turns it into table rows exactly as the ClickHouse exporter does: ids as
  lower-case hex (all-zero id -> ``''``), ``SpanKind`` as pdata's ``String()`` (``Unspecified``,
  ``Internal``, ``Server``, ``Client``, ``Producer``, ``Consumer``), ``StatusCode`` likewise (``Unset``,
  ``Ok``, ``Error``; the AgentOps API upper-cases it and compares with ``OK``/``ERROR``), attribute
  values through pcommon's ``AsString`` (ints as decimals, doubles in ES6 form, bools ``true``/``false``,
  arrays and maps as Go JSON, bytes as base64), ``Duration`` = end - start in ns, ``ServiceName`` from a
  string ``service.name`` resource attribute;
- :func:`make_handler` is the HTTP side: ``POST /v1/traces`` only, ``Authorization: Bearer <JWT>``
  checked like ``jwtauthextension`` (HMAC + ``exp``, not ``aud``) -> 401 with a ``google.rpc.Status``.

The choice of ``Client``/``Ok`` over the older ``SPAN_KIND_CLIENT``/``STATUS_CODE_OK`` spelling follows
the exporter version AgentOps builds (0.121, ``Kind().String()``) and is the only spelling for which the
API's ``upper(StatusCode) = 'ERROR'`` checks work.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import math
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from ..errors import ServiceError
from . import jwt_hs256

__all__ = [
    "SPAN_KIND_NAMES",
    "STATUS_CODE_NAMES",
    "Prices",
    "any_value_to_string",
    "decode_request",
    "format_datetime64",
    "make_handler",
    "request_to_rows",
]

log = logging.getLogger("runbook_lib.sandbox.collector")

SPAN_KIND_NAMES = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODE_NAMES = ("Unset", "Ok", "Error")
PROJECT_ATTRIBUTES = ("ProjectId", "agentops.project.id")

#: model name -> (price per prompt token, price per completion token), both in USD.
Prices = Mapping[str, tuple[float, float]]

_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_MAX_BODY = 20 * 1024 * 1024  # the OTLP receiver's default max_request_body_size


# --- decoding -------------------------------------------------------------------------------------


def decode_request(body: bytes, content_type: str | None, content_encoding: str | None = None
                   ) -> tuple[ExportTraceServiceRequest, str]:
    """Parse an OTLP/HTTP trace export body; returns the message and ``"protobuf"`` or ``"json"``.

    Raises :class:`ServiceError` with ``status_code`` 400 (undecodable) or 415 (other content type).
    """
    encoding = (content_encoding or "").strip().lower()
    try:
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding not in ("", "identity"):
            raise ServiceError(f"unsupported Content-Encoding {encoding!r}", status_code=400)
    except (OSError, EOFError, zlib.error) as exc:
        raise ServiceError(f"body cannot be decompressed ({exc})", status_code=400) from None
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    message = ExportTraceServiceRequest()
    if kind == _PROTOBUF:
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise ServiceError(f"proto: cannot parse invalid wire-format data ({exc})", status_code=400) from None
        return message, "protobuf"
    if kind == _JSON:
        try:
            document = json.loads(body)
            if not isinstance(document, dict):
                raise ValueError("top level is not an object")
            json_format.ParseDict(_hex_ids_to_base64(document), message, ignore_unknown_fields=True)
        except (ValueError, json_format.ParseError) as exc:
            raise ServiceError(f"invalid OTLP JSON: {exc}", status_code=400) from None
        return message, "json"
    raise ServiceError(f"{content_type or 'no content type'} is not supported, use {_PROTOBUF} or {_JSON}",
                       status_code=415)


_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids_to_base64(document: dict[str, Any]) -> dict[str, Any]:
    """OTLP JSON carries ids as hex; protobuf's JSON mapping expects base64 for bytes fields."""

    def fix(obj: dict[str, Any]) -> None:
        for key in _ID_KEYS:
            value = obj.get(key)
            if isinstance(value, str) and value:
                try:
                    obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise ValueError(f"{key} {value[:40]!r} is not hex") from None

    for resource_spans in document.get("resourceSpans", document.get("resource_spans", [])) or []:
        for scope_spans in resource_spans.get("scopeSpans", resource_spans.get("scope_spans", [])) or []:
            for span in scope_spans.get("spans", []) or []:
                fix(span)
                for link in span.get("links", []) or []:
                    fix(link)
    return document


# --- value formatting (pcommon.Value.AsString and Go's encoding/json) ------------------------------


def _es6_float(value: float) -> str:
    """Go's float formatting in pcommon and encoding/json: ES6 number-to-string."""
    if math.isnan(value) or math.isinf(value):
        return f"json: unsupported value: {'NaN' if math.isnan(value) else ('+Inf' if value > 0 else '-Inf')}"
    if value == 0:
        return "0" if math.copysign(1.0, value) > 0 else "-0"
    magnitude = abs(value)
    if 1e-6 <= magnitude < 1e21:
        text = format(Decimal(repr(value)), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    mantissa, exponent = repr(value).split("e")
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"


_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _go_json(raw: Any) -> str:
    """Go ``json.Marshal`` of an ``AsRaw()`` value: compact, map keys sorted, HTML characters escaped."""
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        return _es6_float(raw)
    if isinstance(raw, bytes):
        return json.dumps(base64.b64encode(raw).decode())
    if isinstance(raw, str):
        text = json.dumps(raw, ensure_ascii=False)
        for char, escaped in _HTML_ESCAPES.items():
            text = text.replace(char, escaped)
        return text
    if isinstance(raw, list):
        return "[" + ",".join(_go_json(item) for item in raw) + "]"
    if isinstance(raw, dict):
        return "{" + ",".join(f"{_go_json(key)}:{_go_json(raw[key])}" for key in sorted(raw)) + "}"
    raise TypeError(type(raw).__name__)


def _as_raw(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind in (None, "string_value_strindex"):
        return None
    if kind == "array_value":
        return [_as_raw(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _as_raw(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def any_value_to_string(value: AnyValue) -> str:
    """pcommon ``Value.AsString()``: what the ClickHouse exporter stores in a ``Map(…, String)``."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return _es6_float(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind in ("array_value", "kvlist_value"):
        return _go_json(_as_raw(value))
    return ""


def _attributes(values: Iterable[KeyValue]) -> dict[str, str]:
    return {kv.key: any_value_to_string(kv.value) for kv in values}


def format_datetime64(unix_nano: int) -> str:
    """``YYYY-MM-DD hh:mm:ss.nnnnnnnnn`` in UTC: a DateTime64(9) text value."""
    seconds, nanos = divmod(int(unix_nano), 1_000_000_000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}"


def _hex_id(raw: bytes) -> str:
    return "" if not raw.strip(b"\0") else raw.hex()


# --- rows ------------------------------------------------------------------------------------------


def request_to_rows(
    request: ExportTraceServiceRequest,
    *,
    project_id: str | None = None,
    resource_defaults: Mapping[str, str] | None = None,
    prices: Prices | None = None,
) -> list[dict[str, Any]]:
    """One ``otel_2.otel_traces`` row (a dict keyed by column name) per span in ``request``.

    ``project_id`` (the token's claim) is upserted as ``ProjectId`` and ``agentops.project.id`` on
    every resource, replacing what the client sent. ``resource_defaults`` are added where the client
    sent nothing (``resourcedetection``: ``host.name``, ``os.type``). With ``prices``, spans carrying
    ``gen_ai.usage.prompt_tokens``/``completion_tokens`` and a priced ``gen_ai.response.model`` get
    ``gen_ai.usage.prompt_cost``/``completion_cost``.
    """
    rows: list[dict[str, Any]] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for key, value in (resource_defaults or {}).items():
            resource.setdefault(key, value)
        if project_id is not None:
            for key in PROJECT_ATTRIBUTES:
                resource[key] = project_id
        service_name = ""
        for kv in resource_spans.resource.attributes:
            if kv.key == "service.name":
                service_name = kv.value.string_value if kv.value.WhichOneof("value") == "string_value" else ""
        for scope_spans in resource_spans.scope_spans:
            scope_name, scope_version = scope_spans.scope.name, scope_spans.scope.version
            for span in scope_spans.spans:
                attributes = _attributes(span.attributes)
                if prices:
                    _add_costs(attributes, span.attributes, prices)
                rows.append({
                    "Timestamp": format_datetime64(span.start_time_unix_nano),
                    "TraceId": _hex_id(span.trace_id),
                    "SpanId": _hex_id(span.span_id),
                    "ParentSpanId": _hex_id(span.parent_span_id),
                    "TraceState": span.trace_state,
                    "SpanName": span.name,
                    "SpanKind": _name(SPAN_KIND_NAMES, span.kind),
                    "ServiceName": service_name,
                    "ResourceAttributes": resource,
                    "ScopeName": scope_name,
                    "ScopeVersion": scope_version,
                    "SpanAttributes": attributes,
                    "Duration": max(0, span.end_time_unix_nano - span.start_time_unix_nano),
                    "StatusCode": _name(STATUS_CODE_NAMES, span.status.code),
                    "StatusMessage": span.status.message,
                    "Events.Timestamp": [format_datetime64(e.time_unix_nano) for e in span.events],
                    "Events.Name": [e.name for e in span.events],
                    "Events.Attributes": [_attributes(e.attributes) for e in span.events],
                    "Links.TraceId": [_hex_id(link.trace_id) for link in span.links],
                    "Links.SpanId": [_hex_id(link.span_id) for link in span.links],
                    "Links.TraceState": [link.trace_state for link in span.links],
                    "Links.Attributes": [_attributes(link.attributes) for link in span.links],
                })
    return rows


def _name(names: tuple[str, ...], code: int) -> str:
    return names[code] if 0 <= code < len(names) else ""


def _add_costs(attributes: dict[str, str], raw: Iterable[KeyValue], prices: Prices) -> None:
    model = attributes.get("gen_ai.response.model") or attributes.get("gen_ai.request.model") or ""
    price = prices.get(model)
    if price is None:
        return
    values = {kv.key: _as_raw(kv.value) for kv in raw}
    for tokens_key, cost_key, unit_price in (
        ("gen_ai.usage.prompt_tokens", "gen_ai.usage.prompt_cost", price[0]),
        ("gen_ai.usage.completion_tokens", "gen_ai.usage.completion_cost", price[1]),
    ):
        tokens = values.get(tokens_key)
        try:
            count = float(tokens) if tokens is not None and not isinstance(tokens, (list, dict)) else None
        except (TypeError, ValueError):
            count = None
        if count is not None:
            attributes[cost_key] = _es6_float(count * unit_price)


# --- HTTP ------------------------------------------------------------------------------------------


def _status_body(kind: str, code: int, message: str) -> tuple[bytes, str]:
    """A ``google.rpc.Status`` in the request's encoding, as the OTLP receiver answers errors."""
    status = status_pb2.Status(code=code, message=message)
    if kind == "json":
        return json.dumps(json_format.MessageToDict(status), separators=(",", ":")).encode(), _JSON
    if kind == "protobuf":
        return status.SerializeToString(), _PROTOBUF
    return (message + "\n").encode(), "text/plain; charset=utf-8"


def make_handler(
    *,
    jwt_secret: str,
    write_rows: Callable[[list[dict[str, Any]]], object],  # its result is ignored
    resource_defaults: Mapping[str, str] | None = None,
    prices: Prices | None = None,
) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler class for ``POST /v1/traces`` that verifies, stamps and hands rows to ``write_rows``.

    ``write_rows`` failures are logged, not returned: upstream the batch processor has already
    answered the client when the ClickHouse exporter fails.
    """

    class CollectorHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "otelcol-standin"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
            log.debug("%s %s", self.address_string(), format % args)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _read_body(self) -> bytes | None:
            length = self.headers.get("Content-Length")
            if length is None:
                self._send(411, b"length required\n", "text/plain; charset=utf-8")
                return None
            size = int(length)
            if size > _MAX_BODY:
                self._send(413, b"request body too large\n", "text/plain; charset=utf-8")
                self.close_connection = True
                return None
            return self.rfile.read(size)

        def do_GET(self) -> None:  # noqa: N802
            self._not_post()

        do_PUT = do_DELETE = do_PATCH = do_GET  # noqa: N815

        def _not_post(self) -> None:
            if self.path.split("?", 1)[0] == "/v1/traces":
                self._send(405, b"405 method not allowed, supported: [POST]\n", "text/plain; charset=utf-8")
            else:
                self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")

        def do_POST(self) -> None:  # noqa: N802
            if self.path.split("?", 1)[0] != "/v1/traces":
                self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
                return
            body = self._read_body()
            if body is None:
                return
            kind = {"application/x-protobuf": "protobuf", "application/json": "json"}.get(
                (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower(), "text")
            claims = self._authenticate(kind)
            if claims is None:
                return
            try:
                request, kind = decode_request(body, self.headers.get("Content-Type"),
                                               self.headers.get("Content-Encoding"))
            except ServiceError as exc:
                status_body, ctype = _status_body(kind, 3, exc.message)  # INVALID_ARGUMENT
                self._send(exc.status_code or 400, status_body, ctype)
                return
            project_id = claims.get("project_id")
            rows = request_to_rows(
                request,
                project_id=None if project_id is None else str(project_id),
                resource_defaults=resource_defaults,
                prices=prices,
            )
            if rows:
                try:
                    write_rows(rows)
                except Exception as exc:  # exporter failure: logged, client already acknowledged
                    log.error("exporting %d spans to the trace store failed: %s", len(rows), exc)
                else:
                    log.info("accepted %d spans for project %s", len(rows), project_id)
            response = ExportTraceServiceResponse()
            if kind == "json":
                self._send(200, b"{}", _JSON)
            else:
                self._send(200, response.SerializeToString(), _PROTOBUF)

        def _authenticate(self, kind: str) -> dict[str, Any] | None:
            header = self.headers.get("Authorization") or ""
            scheme, _, token = header.partition(" ")
            reason = None
            claims: dict[str, Any] | None = None
            if not header:
                reason = "missing authorization header"
            elif scheme.lower() != "bearer" or not token.strip():
                reason = "authorization header is not a Bearer token"
            else:
                try:
                    claims = jwt_hs256.verify_collector_token(token.strip(), jwt_secret)
                except jwt_hs256.ExpiredSignatureError:
                    reason = "token has invalid claims: token is expired"
                except jwt_hs256.InvalidTokenError as exc:
                    reason = f"token is invalid: {exc.__class__.__name__}"
            if claims is None:
                log.warning("rejected export from %s: %s", self.address_string(), reason)
                body, ctype = _status_body(kind, 16, reason or "unauthenticated")  # UNAUTHENTICATED
                self._send(401, body, ctype)
            return claims

    return CollectorHandler
