"""HTTP compression as ClickHouse does it: ``Content-Encoding`` of requests, ``Accept-Encoding`` of responses.

gzip, deflate, xz and bz2 come from the standard library; zstd, lz4 and br when their Python package is
installed (clickhouse-connect brings lz4 and zstd). A method ClickHouse knows but this process cannot decode
gets ClickHouse's ``NOT_IMPLEMENTED``; a corrupt body gets the decoder error ClickHouse raises for that method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .failures import QueryFailed

__all__ = ["Codec", "codec", "decode_body", "request_compression", "response_compression"]

#: ``Content-Encoding`` spellings ClickHouse reads (chooseCompressionMethod), by method.
_ENCODING_NAMES = {"gzip": "gzip", "gz": "gzip", "deflate": "deflate", "brotli": "br", "br": "br", "lzma": "xz",
                   "xz": "xz", "zstd": "zstd", "zst": "zstd", "lz4": "lz4", "bz2": "bz2", "snappy": "snappy"}
#: The order ClickHouse picks a response method from ``Accept-Encoding`` (chooseHTTPCompressionMethod).
_RESPONSE_PREFERENCE = ("zstd", "br", "lz4", "snappy", "gzip", "deflate", "xz", "bz2")
#: The error ClickHouse raises when a request body does not decode, by method.
_DECODE_ERRORS = {"gzip": (354, "ZLIB_INFLATE_FAILED"), "deflate": (354, "ZLIB_INFLATE_FAILED"),
                  "br": (448, "BROTLI_READ_FAILED"), "xz": (554, "LZMA_STREAM_DECODER_FAILED"),
                  "zstd": (561, "ZSTD_DECODER_FAILED"), "lz4": (618, "LZ4_DECODER_FAILED"),
                  "bz2": (594, "BZIP2_STREAM_DECODER_FAILED"), "snappy": (271, "CANNOT_DECOMPRESS")}


@dataclass(frozen=True)
class Codec:
    """One compression method: ``decompress(data)`` and ``compress(data, level)``."""

    decompress: Any
    compress: Any  # (data, level) -> bytes


def request_compression(header: str) -> str | None:
    """The method a request's ``Content-Encoding`` names; ClickHouse's error for one it does not know."""
    name = header.strip().lower()
    if name in ("", "auto", "none"):
        return None
    if name in _ENCODING_NAMES:
        return _ENCODING_NAMES[name]
    raise QueryFailed(48, "NOT_IMPLEMENTED",
                      f"Code: 48. DB::Exception: Unknown compression method '{header.strip()}'. Only 'auto', "
                      "'none', 'gzip', 'deflate', 'br', 'xz', 'zstd', 'lz4', 'bz2', 'snappy' are supported as "
                      "compression methods. (NOT_IMPLEMENTED)")


def decode_body(body: bytes, content_encoding: str) -> bytes:
    """``body`` decoded by its ``Content-Encoding``; :class:`QueryFailed` as ClickHouse answers otherwise."""
    method = request_compression(content_encoding)
    if method is None or not body:
        return body
    found = codec(method)
    if found is None:  # what a ClickHouse built without that library answers
        raise QueryFailed(48, "NOT_IMPLEMENTED",
                          "Code: 48. DB::Exception: Unsupported compression method. (NOT_IMPLEMENTED)")
    try:
        return found.decompress(body)
    except Exception as exc:  # each library raises its own error type for a corrupt stream
        code, name = _DECODE_ERRORS[method]
        raise QueryFailed(code, name, f"Code: {code}. DB::Exception: Cannot decode the request body as "
                                      f"{method}: {exc}. ({name})") from None


def codec(method: str) -> Codec | None:
    """The codec for ``method`` from the standard library or an installed package; None when missing."""
    import bz2
    import gzip
    import lzma
    import zlib

    if method == "gzip":
        return Codec(gzip.decompress, lambda data, level: gzip.compress(data, compresslevel=level, mtime=0))
    if method == "deflate":
        return Codec(zlib.decompress, lambda data, level: zlib.compress(data, level))
    if method == "xz":
        return Codec(lzma.decompress, lambda data, level: lzma.compress(data, preset=level))
    if method == "bz2":
        return Codec(bz2.decompress, lambda data, level: bz2.compress(data, compresslevel=level))
    try:
        if method == "zstd":
            return _zstd_codec()
        if method == "lz4":
            import lz4.frame

            return Codec(lz4.frame.decompress,
                         lambda data, level: lz4.frame.compress(data, compression_level=level))
        if method == "br":
            import brotli

            return Codec(brotli.decompress, lambda data, level: brotli.compress(data, quality=level))
    except ImportError:
        return None
    return None  # snappy: ClickHouse's Hadoop framing has no codec here


def _zstd_codec() -> Codec:
    try:
        from compression import zstd  # Python 3.14+
    except ImportError:
        try:
            from backports import zstd
        except ImportError:
            import zstandard

            return Codec(lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data),
                         lambda data, level: zstandard.ZstdCompressor(level=level).compress(data))
    return Codec(zstd.decompress, lambda data, level: zstd.compress(data, level=level))


def response_compression(accept_encoding: str) -> tuple[str, Codec] | None:
    """The method ClickHouse would answer ``Accept-Encoding`` with, if this process can encode it."""
    for method in _RESPONSE_PREFERENCE:
        if method in accept_encoding:
            found = codec(method)
            if found is not None:
                return method, found
    return None
