"""Secrets under attack: every encoding, every artifact, cuts, URL credentials, weak references.

Every secret here is generated per test (random lengths, characters that need escaping, non-ASCII
where the type allows it), so nothing passes because a value was chosen to.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import random
import string
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote

import pytest

from runbook_lib import run_notebooks
from runbook_lib.cli import main
from runbook_lib.leaks import FRAGMENT_LEN, redact_text
from runbook_lib.secrets import SecretRef, known_secrets, redact_and_cut_known, remember_secret
from runbook_lib.url_credentials import refuse_url_credentials
from tests.nbfactory import write_notebook

_rng = random.Random()
_PUNCT = "\"'\\/<>&%+=?#@: "


def _secret(length: int | None = None, *, extra: str = _PUNCT) -> str:
    """Letters and digits with escaping-relevant characters mixed in (never starting with one)."""
    length = length or _rng.randint(18, 48)
    alphabet = string.ascii_letters + string.digits
    chars = [_rng.choice(alphabet) for _ in range(length)]
    for i in _rng.sample(range(1, length - 1), k=min(4, length - 2)):
        chars[i] = _rng.choice(extra)
    return "".join(chars)


def _non_ascii_secret() -> str:
    return _secret() + _rng.choice("éßøΩж") + _secret(10)


def _encodings(value: str) -> dict[str, str]:
    cut = _rng.randint(FRAGMENT_LEN + 1, len(value) - 2)
    split = _rng.randint(3, len(value) - 3)
    return {
        "raw": value,
        "json": json.dumps(value)[1:-1],
        "json-ascii": json.dumps(value, ensure_ascii=True)[1:-1],
        "json-twice": json.dumps(json.dumps(value))[1:-1],
        "json-thrice": json.dumps(json.dumps(json.dumps(value)))[1:-1],
        "html": html.escape(value),
        "html-of-json": html.escape(json.dumps(value)),
        "url": quote(value, safe=""),
        "url-plus": quote_plus(value),
        "base64": base64.b64encode(value.encode()).decode(),
        "base64-userinfo": base64.b64encode(f"{_secret(7, extra='-')}:{value}".encode()).decode(),
        "base64-urlsafe": base64.urlsafe_b64encode(b"x" + value.encode()).decode(),
        "line-split": value[:split] + "\n" + value[split:],
        "space-split": value[:split] + " " + value[split:],
        "cut-prefix": value[:cut] + "…",
        "cut-suffix": "…" + value[-cut:],
    }


def _assert_gone(text: str, value: str, planted: str) -> None:
    """Neither the value nor what was planted survives in the text or in any decoding of it."""
    views = {text, html.unescape(text), unquote(text), "".join(text.split())}
    for view in list(views):
        with contextlib.suppress(ValueError):
            views.add(json.dumps(json.loads(view), ensure_ascii=False))
    probes = {value, planted.strip("…")} | {value[i:i + FRAGMENT_LEN]
                                               for i in range(0, len(value) - FRAGMENT_LEN + 1)}
    for view in views:
        for probe in probes:
            assert probe not in view, f"{probe!r} survived"


@pytest.mark.parametrize("kind", ["env", "dsn-password", "non-ascii-dsn", "long-jwt-secret"])
@pytest.mark.parametrize("encoding", sorted(_encodings("x" * 40)))
def test_every_encoding_of_every_secret_is_redacted(kind: str, encoding: str) -> None:
    if kind == "dsn-password":
        password = _secret(extra="-_.~!*")
        registered = f"postgresql://runner:{password}@127.0.0.1:{_rng.randint(1025, 65000)}/db"
        value = password
    elif kind == "non-ascii-dsn":
        value = _non_ascii_secret()
        registered = f"postgresql://runner:{quote(value)}@127.0.0.1/db"
    else:
        value = _secret(_rng.randint(60, 90)) if kind == "long-jwt-secret" else _secret()
        registered = value
    remember_secret(registered)
    planted = _encodings(value)[encoding]
    from runbook_lib.secrets import known_secrets

    text = json.dumps({"text": [f"seen: {planted}\n", "more"]}, indent=1)
    cleaned, hits = redact_text(text, known_secrets())
    assert hits, "nothing found"
    _assert_gone(cleaned, value, planted)


@pytest.mark.parametrize("text", [
    "GET http://ops:{pw}@10.0.0.5:4000/health",
    "redirect to https://h.example/cb?state=1&api_key={pw}",
    "POST /v1?token={pw}",
    "dsn postgresql://app:{pw}@db/agentops",
    "&amp;password={pw}&amp;x=1",
])
def test_userinfo_and_credential_query_values_are_secrets_in_any_text(text: str) -> None:
    pw = _secret(extra="-_.~")
    cleaned, hits = redact_text(text.format(pw=pw), [])
    assert pw not in cleaned and hits


def test_fragments_are_the_secret_bearing_part_only() -> None:
    """A cut's fragment is evidence only where the window could not stand elsewhere: the repetitive runs
    of a UUID and the shared header of every JWT are ordinary text; the signature is the secret."""
    uuid_key = "00000000-0000-4000-8000-000000000000"
    other_uuid = "00000000-0000-0000-0000-000000000001"
    assert redact_text(f"id {other_uuid}", [uuid_key]) == (f"id {other_uuid}", {})
    header = "eyJhbGciOiJIUzI1NiJ9"
    known = f"{header}.eyJwcm9qZWN0X2lkIjoicDEifQ.{_secret(extra='-_')}"
    another = f"{header}.eyJwcm9qZWN0X2lkIjoicDIifQ.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
    cleaned, hits = redact_text(f"token: {another}", [known])
    assert another not in cleaned and hits == {"jwt": 1}
    cut = known[: len(known) - 5]
    cleaned, hits = redact_text(f"cut: {cut[-(FRAGMENT_LEN + 3):]}", [known])
    assert hits == {"secret-fragment": 1} and cut[-FRAGMENT_LEN:] not in cleaned


def test_a_conninfo_dsn_is_redacted_by_its_password_not_by_its_hosts_and_paths() -> None:
    """A libpq ``key=value`` DSN is registered like a URL one: its password on its own (quoting undone by
    psycopg), so a cut password is still found; its hosts, socket paths and ports are ordinary text in any
    report (a 10_migration header naming ``postgresql://127.0.0.1:5432`` once read as a 'fragment' of it)."""
    pw = _secret(_rng.randint(18, 30), extra=" '\\-_")
    quoted = "'" + pw.replace("\\", "\\\\").replace("'", "\\'") + "'"
    dsn = f"host=/var/run/postgresql,10.0.0.5 port=5432,5433 user=ops password={quoted} dbname=agentops"
    remember_secret(dsn)
    report = ("target hosts postgresql://10.0.0.5:5433 (database_url), socket /var/run/postgresql, "
              "port=5432,5433 user=ops dbname=agentops")
    assert redact_text(report, known_secrets()) == (report, {})
    cleaned, hits = redact_text(f"{report} password={pw[:FRAGMENT_LEN + 2]}…", known_secrets())
    assert hits == {"secret-fragment": 1} and pw[:FRAGMENT_LEN] not in cleaned
    cleaned, hits = redact_text(f"connecting with {dsn}", known_secrets())
    assert hits == {"secret-value": 1} and pw not in cleaned and "password" not in cleaned


def test_redact_first_then_cut_leaves_no_part_of_a_secret() -> None:
    value = _secret(extra="-_")
    remember_secret(value)
    for offset in range(140, 165):
        body = "e" * offset + value + " trailing detail"
        snippet = redact_and_cut_known(body, 160)
        assert len(snippet) <= 161
        for i in range(len(value) - 3):
            assert value[i:i + 4] not in snippet.replace("e" * 4, ""), (offset, snippet)


def test_url_parameters_with_credentials_are_refused_naming_the_secret_parameter(capsys) -> None:
    pw = _secret(extra="-_")
    for url, secret_param in [(f"http://admin:{pw}@127.0.0.1:4000", "litellm_master_key"),
                              (f"http://127.0.0.1:8000?api_key={pw}", "agentops_api_key")]:
        name = "litellm_url" if secret_param == "litellm_master_key" else "agentops_api_url"
        assert main(["run", "00_setup", "-p", name, url, "--out", "/nonexistent/never"]) == 3
        err = capsys.readouterr().err
        assert secret_param in err and pw not in err and "credential" in err
    assert refuse_url_credentials("http://127.0.0.1:4000/?model=x", name="litellm_url").endswith("model=x")


def _ref_file(tmp_path: Path, value: str, mode: int) -> str:
    path = tmp_path / f"s{_rng.randint(0, 1 << 30)}"
    path.write_text(value, encoding="utf-8")
    path.chmod(mode)
    return f"file:{path}"


def test_weak_secret_references_are_refused_up_front_without_revealing_them(tmp_path: Path, monkeypatch) -> None:
    short = _secret(_rng.randint(3, 7), extra="-")
    readable = _ref_file(tmp_path, _secret(), 0o644)
    non_ascii = _non_ascii_secret()
    monkeypatch.setenv("RB_ATTACK_SHORT", short)
    monkeypatch.setenv("RB_ATTACK_UNICODE", non_ascii)
    for ref, reason in [("env:RB_ATTACK_SHORT", "shorter than"), (readable, "group or others"),
                        ("env:RB_ATTACK_UNICODE", "non-ASCII")]:
        with pytest.raises(Exception) as info:
            SecretRef.parse(ref).resolve()
        text = str(info.value)
        assert reason in text and getattr(info.value, "exit_code", None) == 3
        assert short not in text and non_ascii not in text
        assert not any(ch in text for ch in non_ascii if not ch.isascii())
        assert "position" not in text


def test_cli_refuses_a_short_secret_with_exit_3(nb_secret_dir: Path, monkeypatch, capsys, tmp_path: Path) -> None:
    short = _secret(5, extra="-")
    monkeypatch.setenv("RB_ATTACK_SHORT", short)
    assert main(["run", "plant", "-p", "api_key", "env:RB_ATTACK_SHORT", "--out", str(tmp_path / "r")]) == 3
    assert short not in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


PLANT = r'''
import base64, html, json, logging, os, struct, zlib
from urllib.parse import quote
from IPython.display import display, Image, HTML
from runbook_lib import Check, resolve_secret, show_checks
values = [resolve_secret(api_key), resolve_secret(file_key), password]
forms = json.loads(forms_json)
for v in values:
    for name, make in forms.items():
        print(name, eval(make))
    display({"text/plain": "meta"}, raw=True, metadata={"note": v, "nested": json.dumps({"v": v})})
    display(HTML("<p>" + html.escape(v) + "</p>"))
    chunk = b"tEXt" + b"Comment\0" + v.encode()
    png = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(chunk) - 4) + chunk
           + struct.pack(">I", zlib.crc32(chunk)))
    display(Image(data=png, format="png"))
    logging.getLogger("runbook_lib.attack").warning("log %s", v)
    with open(os.path.join(os.environ["RUNBOOK_EXPORT_DIR"], "export.csv"), "a") as fh:
        fh.write("value," + json.dumps(v) + "\n")
show_checks(Check.failed("attack.plant", "planted", "evidence follows", remedy="none",
                         evidence={"values": [json.dumps(json.dumps(v)) for v in values]}))
'''

FORMS = {
    "raw": "v", "json2": "json.dumps(json.dumps(v))", "html": "html.escape(v)", "url": "quote(v, safe='')",
    "b64": "base64.b64encode(v.encode()).decode()", "b64user": "base64.b64encode(b'op:' + v.encode()).decode()",
    "split": "v[:5] + chr(10) + v[5:]", "cut": "v[:-3] + '…'",
}


@pytest.fixture
def nb_secret_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    monkeypatch.setenv("RUNBOOK_NOTEBOOK_DIR", str(folder))
    params = ('api_key: "Optional[Secret]" = None  # key\nfile_key: "Optional[Secret]" = None  # key\n'
              'password: str = ""  # planted verbatim\nforms_json: str = "{}"  # encodings\n')
    write_notebook(folder / "plant.ipynb", params, PLANT, description="plants secrets")
    return folder


def test_a_run_that_plants_every_encoding_everywhere_ends_leaked_and_clean(nb_secret_dir: Path, tmp_path: Path,
                                                                           monkeypatch) -> None:
    env_value, file_value = _secret(extra="\"'<>&"), _secret(extra="/+=%")
    dsn_pw = _non_ascii_secret()
    monkeypatch.setenv("RB_ATTACK_KEY", env_value)
    remember_secret(f"postgresql://u:{quote(dsn_pw)}@127.0.0.1/db")  # as a DsnSecret resolution does
    record = run_notebooks(["plant"], {"api_key": "env:RB_ATTACK_KEY",
                                       "file_key": _ref_file(tmp_path, file_value, 0o600),
                                       "password": dsn_pw, "forms_json": json.dumps(FORMS)},
                           out_dir=tmp_path / "reports")
    assert record.verdict == "leaked" and record.exit_code == 4
    run_dir = record.run_dir
    files = sorted(p for p in run_dir.rglob("*") if p.is_file())
    names = {p.relative_to(run_dir).as_posix() for p in files}
    assert {"plant.ipynb", "plant.html", "run.json", "run.log", "exports/export.csv"} <= names
    leaked_in = {x["file"] for x in record.leaks}
    assert {"plant.ipynb", "plant.html", "run.log", "exports/export.csv"} <= leaked_in
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for value in (env_value, file_value, dsn_pw):
            for name, planted in _encodings(value).items():
                if name in ("raw", "json-twice", "html", "url", "base64", "line-split", "cut-prefix"):
                    _assert_gone(text, value, planted)
    assert main(["report", "verify", str(run_dir)]) == 0
