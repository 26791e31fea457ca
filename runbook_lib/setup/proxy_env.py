"""What the running proxy shows about the ``os.environ/`` references of its config.

The proxy, not this notebook, reads those variables (it often runs in a container with its own
environment). LiteLLM 1.108.7 shows some of them indirectly:

* ``general_settings.master_key``: with a master key, ``/v1/models`` without a key is refused (401; 400
  or 500 when the proxy has no database); with the reference unset the proxy has no master key and
  serves the call (200).
* ``model_list[i].litellm_params.<field>``: ``/v1/model/info`` lists each deployment's parameters with
  credentials removed (``api_key`` and the cloud secrets), so non-credential fields such as
  ``api_base`` show whether the value resolved.

Every other reference cannot be verified from outside the proxy; :func:`proxy_view` says which.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..clients.litellm import LiteLLMClient
from ..errors import ServiceError
from ..http import display_url

__all__ = ["ProxyView", "WITNESSES", "proxy_view"]

_MODEL_PARAM = re.compile(r"^model_list\[(\d+)\]\.litellm_params\.([A-Za-z0-9_]+)$")
#: Fields /v1/model/info removes (LiteLLM's remove_sensitive_info_from_deployment): not verifiable there.
_REMOVED_FIELDS = frozenset({"api_key", "client_secret", "vertex_credentials", "vertex_ai_credentials",
                             "aws_access_key_id", "aws_secret_access_key"})
#: How each kind of reference is witnessed by the running proxy (for the report).
WITNESSES = {
    "general_settings.master_key": "/v1/models without a key is refused only when the master key resolved",
    "model_list[i].litellm_params.<field>": "/v1/model/info shows the resolved value (credentials excepted)",
}


@dataclass
class ProxyView:
    """What the running proxy told about each reference: ``resolved[path]`` is True (it holds a value),
    False (it holds none); paths it cannot show are absent. ``reachable`` is False (with ``problem``)
    when the proxy could not be asked."""

    url: str
    reachable: bool = False
    problem: str = ""
    resolved: dict[str, bool] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)


def _master_key_enforced(url: str, timeout_s: float) -> bool | None:
    """True when the proxy refuses a call without a key (401, or 400/500 without a database: LiteLLM
    only checks keys when it has a master key), False when it serves it; None when it did not answer."""
    with LiteLLMClient(url, None, timeout_s=timeout_s) as anonymous:
        try:
            anonymous.models()
        except ServiceError as exc:
            return True if getattr(exc, "status_code", None) else None
    return False


def _model_params(client: LiteLLMClient) -> list[dict[str, Any]]:
    try:
        return client.model_info()
    except ServiceError:
        return []


def proxy_view(litellm_url: str | None, master_key: Any, doc: Mapping[str, Any], paths: Sequence[str], *,
               timeout_s: float = 5.0) -> ProxyView | None:
    """Ask the proxy at ``litellm_url`` about each reference path of ``doc``; None without a URL."""
    if not litellm_url:
        return None
    view = ProxyView(display_url(litellm_url))
    try:
        with LiteLLMClient(litellm_url, master_key or None, timeout_s=timeout_s) as client:
            client.liveliness()
            view.reachable = True
            if "general_settings.master_key" in paths:
                enforced = _master_key_enforced(litellm_url, timeout_s)
                if enforced is not None:
                    view.resolved["general_settings.master_key"] = enforced
                    view.how["general_settings.master_key"] = WITNESSES["general_settings.master_key"]
            model_paths = [(p, _MODEL_PARAM.match(p)) for p in paths]
            wanted = [(p, m) for p, m in model_paths if m and m.group(2) not in _REMOVED_FIELDS]
            if wanted and master_key:
                deployments = _model_params(client)
                for path, match in wanted:
                    resolved = _resolved_model_param(doc, deployments, int(match.group(1)), match.group(2))
                    if resolved is not None:
                        view.resolved[path] = resolved
                        view.how[path] = WITNESSES["model_list[i].litellm_params.<field>"]
    except ServiceError as exc:
        if not view.reachable:
            view.problem = exc.message
    return view


def _resolved_model_param(doc: Mapping[str, Any], deployments: list[dict[str, Any]], index: int,
                          name: str) -> bool | None:
    """Whether deployment ``index`` of the config holds a value for ``name`` in the running proxy."""
    models = doc.get("model_list") or []
    if not (0 <= index < len(models)) or not isinstance(models[index], Mapping):
        return None
    model_name = models[index].get("model_name")
    same = [d for d in deployments if d.get("model_name") == model_name]
    if len(same) != 1:  # several deployments of one name (or none): cannot tell which is which
        return None
    params = same[0].get("litellm_params") or {}
    if name not in params and not params:
        return None
    value = params.get(name)
    if isinstance(value, str) and value.startswith("os.environ/"):
        return None  # the proxy shows the reference itself, not what it resolved to
    return value not in (None, "")
