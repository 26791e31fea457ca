"""ClickHouse's errors as the store answers them: :class:`QueryFailed`, its HTTP status, and chDB's text parsed.

Every refusal, from the engine or from the HTTP layer, is a :class:`QueryFailed` carrying ClickHouse's code,
name and message; the HTTP status is the one ClickHouse's HTTPHandler maps that error name to.
"""

from __future__ import annotations

import re

__all__ = ["HTTP_STATUS", "QueryFailed", "block_compression_refused", "empty_query", "from_engine_text",
           "readonly_refused"]

_CODE = re.compile(r"Code: (\d+)\. ")
_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)\s*$")

#: ClickHouse's HTTPHandler status mapping (exceptionCodeToHTTPStatus), by error name; any other is 500.
HTTP_STATUS: dict[str, int] = {"REQUIRED_PASSWORD": 401}
HTTP_STATUS.update(dict.fromkeys(
    ("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "SET_NON_GRANTED_ROLE", "READONLY",
     "ACCESS_DENIED"), 403))
HTTP_STATUS.update(dict.fromkeys(
    ("BAD_ARGUMENTS", "CANNOT_COMPILE_REGEXP", "CANNOT_PARSE_TEXT", "CANNOT_PARSE_ESCAPE_SEQUENCE",
     "CANNOT_PARSE_QUOTED_STRING", "CANNOT_PARSE_DATE", "CANNOT_PARSE_DATETIME", "CANNOT_PARSE_NUMBER",
     "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING", "CANNOT_PARSE_IPV4", "CANNOT_PARSE_IPV6",
     "CANNOT_PARSE_INPUT_ASSERTION_FAILED", "CANNOT_PARSE_UUID", "DUPLICATE_COLUMN", "ILLEGAL_COLUMN",
     "UNKNOWN_ELEMENT_IN_AST", "UNKNOWN_TYPE_OF_AST_NODE", "THERE_IS_NO_COLUMN", "TOO_DEEP_AST",
     "TOO_BIG_AST", "UNEXPECTED_AST_STRUCTURE", "SYNTAX_ERROR", "INCORRECT_DATA", "TYPE_MISMATCH",
     "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE", "UNKNOWN_QUERY_PARAMETER", "BAD_QUERY_PARAMETER"), 400))
HTTP_STATUS.update(dict.fromkeys(
    ("UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE", "UNKNOWN_STORAGE",
     "UNKNOWN_DATABASE", "UNKNOWN_SETTING", "UNKNOWN_DIRECTION_OF_SORTING", "UNKNOWN_AGGREGATE_FUNCTION",
     "UNKNOWN_FORMAT", "UNKNOWN_DATABASE_ENGINE", "UNKNOWN_TYPE_OF_QUERY", "UNKNOWN_ROLE"), 404))
HTTP_STATUS.update({"QUERY_IS_TOO_LARGE": 413, "NOT_IMPLEMENTED": 501, "TIMEOUT_EXCEEDED": 408})


class QueryFailed(Exception):
    """The engine refused a query; ``code``/``name`` are ClickHouse's, ``text`` its message."""

    def __init__(self, code: int, name: str, text: str) -> None:
        self.code, self.name, self.text = code, name, text
        super().__init__(text)

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.name, 500)


def from_engine_text(text: str) -> QueryFailed:
    """Parse chDB's exception text into ClickHouse's code, name and first message."""
    text = text.strip()
    if "Code: " in text and not text.startswith("Code: "):
        text = text[text.index("Code: "):]
    # chDB can nest the same exception ("Code: 73. DB::Exception: Code: 73. …"); keep the innermost.
    while True:
        inner = re.match(r"Code: (\d+)\. DB::Exception: (Code: \1\. DB::Exception: .*)$", text, re.DOTALL)
        if not inner:
            break
        text = inner.group(2)
    text = re.sub(r"(\(([A-Z][A-Z0-9_]+)\) \(version [^)]*\)\. )+\(\2\)$", r"(\2)", text)
    text = text.split("\nThe above exception", 1)[0].strip()
    code_match, name_match = _CODE.match(text), _NAME.search(text)
    code = int(code_match.group(1)) if code_match else 1001
    name = name_match.group(1) if name_match else "STD_EXCEPTION"
    if not code_match:
        text = f"Code: 1001. DB::Exception: {text}. (STD_EXCEPTION)"
    return QueryFailed(code, name, text)


def empty_query() -> QueryFailed:
    """ClickHouse's answer to a request without a statement."""
    return QueryFailed(62, "SYNTAX_ERROR", "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)")


def readonly_refused() -> QueryFailed:
    """ClickHouse's answer to a modifying statement sent with GET or ``readonly`` > 0."""
    return QueryFailed(164, "READONLY",
                       "Code: 164. DB::Exception: Cannot execute query in readonly mode. "
                       "For queries over HTTP, method GET implies readonly. You should use "
                       "method POST for modifying queries. (READONLY)")


def block_compression_refused() -> QueryFailed:
    """The store's answer to ``compress=1`` / ``decompress=1`` (ClickHouse's internal block compression)."""
    return QueryFailed(48, "NOT_IMPLEMENTED",
                       "Code: 48. DB::Exception: ClickHouse's internal block compression (compress=1 "
                       "/ decompress=1) is not implemented by the sandbox store; use HTTP compression "
                       "(Accept-Encoding / Content-Encoding). (NOT_IMPLEMENTED)")
