"""Splitting and normalising SQL script text (migration files, ledger statements).

The Supabase CLI stores each migration file in its ledger as an array of statements. To compare a
checkout's file with that array, both sides are split the same way and normalised: comments
dropped, whitespace collapsed, trailing semicolons removed.
"""

from __future__ import annotations

import re

__all__ = ["split_statements", "normalise_statement"]

_DOLLAR_TAG = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*\$|\$\$")


def split_statements(script: str) -> list[str]:
    """Split a SQL script on top-level semicolons.

    Quotes (``'...'``, ``"..."``, ``E'...'``), dollar-quoted bodies (``$$...$$``, ``$tag$...$tag$``),
    line comments and nested block comments are respected. Each statement keeps its text (without
    the terminating semicolon); empty or comment-only pieces are dropped.
    """
    statements: list[str] = []
    start = 0
    i = 0
    n = len(script)
    while i < n:
        ch = script[i]
        if ch == "-" and script.startswith("--", i):
            end = script.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch == "/" and script.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if script.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif script.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif ch in ("'", '"'):
            i += 1
            while i < n:
                if script[i] == ch:
                    if i + 1 < n and script[i + 1] == ch:  # doubled quote
                        i += 2
                        continue
                    i += 1
                    break
                if script[i] == "\\" and ch == "'" and _is_escape_string(script, start, i):
                    i += 2
                    continue
                i += 1
        elif ch == "$":
            match = _DOLLAR_TAG.match(script, i)
            if match and not (i > 0 and (script[i - 1].isalnum() or script[i - 1] == "_")):
                tag = match.group(0)
                end = script.find(tag, match.end())
                i = n if end < 0 else end + len(tag)
            else:
                i += 1
        elif ch == ";":
            _append(statements, script[start:i])
            i += 1
            start = i
        else:
            i += 1
    _append(statements, script[start:])
    return statements


def _is_escape_string(script: str, start: int, pos: int) -> bool:
    """True when the quote enclosing ``pos`` opened an E'...' string (backslash escapes)."""
    opening = script.rfind("'", start, pos)
    return opening > 0 and script[opening - 1] in "eE"


def _append(statements: list[str], piece: str) -> None:
    if normalise_statement(piece):
        statements.append(piece.strip())


def normalise_statement(statement: str) -> str:
    """The statement without comments, with runs of whitespace collapsed and no trailing ``;``.

    Quoted text is kept as is, so a changed string literal still counts as a difference.
    """
    out: list[str] = []
    i, n = 0, len(statement)
    pending_space = False
    while i < n:
        ch = statement[i]
        if statement.startswith("--", i):
            end = statement.find("\n", i)
            i = n if end < 0 else end + 1
            pending_space = True
            continue
        if statement.startswith("/*", i):
            end = statement.find("*/", i + 2)
            i = n if end < 0 else end + 2
            pending_space = True
            continue
        if ch.isspace():
            pending_space = True
            i += 1
            continue
        if ch in ("'", '"') or ch == "$":
            j = i + 1
            if ch == "$":
                match = _DOLLAR_TAG.match(statement, i)
                if match:
                    end = statement.find(match.group(0), match.end())
                    j = n if end < 0 else end + len(match.group(0))
            else:
                while j < n and not (statement[j] == ch and (j + 1 >= n or statement[j + 1] != ch)):
                    j += 2 if statement[j] == ch else 1
                j += 1
            if pending_space and out:
                out.append(" ")
            pending_space = False
            out.append(statement[i:j])
            i = j
            continue
        if pending_space and out:
            out.append(" ")
        pending_space = False
        out.append(ch)
        i += 1
    return "".join(out).strip().rstrip(";").strip()
