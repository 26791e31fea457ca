"""Refuse credentials inside URL parameters.

A ``Url`` parameter is stored verbatim (the injected cell, the notebook metadata, the HTML header,
``run.json``), so a URL with userinfo (``http://user:pass@host``) or a credential-like query value
(``?api_key=``, ``&token=``) would put a secret into every artifact. Such a URL is refused, naming the
secret parameter that carries the credential instead; the message shows none of the URL.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

__all__ = ["CREDENTIAL_PARAMETERS", "CREDENTIAL_QUERY_KEYS", "refuse_url_credentials", "url_credentials"]

#: URL parameter -> the secret parameter that carries its credential.
CREDENTIAL_PARAMETERS: dict[str, str] = {
    "litellm_url": "litellm_master_key",
    "agentops_api_url": "agentops_api_key",
    "trace_store_url": "trace_store_password",
}
CREDENTIAL_QUERY_KEYS = re.compile(
    r"(?i)^(?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|id[_-]?token|refresh[_-]?token|token|password"
    r"|passwd|pwd|secret|client[_-]?secret|private[_-]?key|key|sig|signature|auth|authorization|credentials?)$"
)
_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@")


def url_credentials(url: str) -> list[str]:
    """What in ``url`` is a credential: ``"userinfo"`` and ``"query value 'NAME'"`` entries."""
    text = url.strip()
    found = ["userinfo"] if _USERINFO.match(text) else []
    try:
        query = urlsplit(text).query
    except ValueError:
        query = text.partition("?")[2]
    found += [f"query value {key!r}" for key, _ in parse_qsl(query, keep_blank_values=True)
              if CREDENTIAL_QUERY_KEYS.match(key.strip())]
    return found


def refuse_url_credentials(url: str, *, name: str) -> str:
    """Return ``url`` unchanged, or raise ValueError naming what to use instead of its credentials."""
    found = url_credentials(url) if isinstance(url, str) else []
    if not found:
        return url
    secret = CREDENTIAL_PARAMETERS.get(name)
    instead = (f"the secret parameter {secret} (env:NAME or file:PATH)" if secret
               else "the notebook's secret parameter (env:NAME or file:PATH; see `runbook params NOTEBOOK`)")
    raise ValueError(
        f"the URL holds a credential ({', '.join(found)}); a URL parameter is stored verbatim in the report."
        f" Give the URL without it and pass the credential through {instead}"
    )
