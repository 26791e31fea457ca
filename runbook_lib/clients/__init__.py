"""HTTP clients for the services a runbook talks to: the LiteLLM proxy and the AgentOps API."""

from __future__ import annotations

from .agentops import AgentOpsClient, TokenInfo, collector_status_error, decode_jwt_claims
from .litellm import ChatResult, LiteLLMClient

__all__ = [
    "AgentOpsClient",
    "ChatResult",
    "LiteLLMClient",
    "TokenInfo",
    "collector_status_error",
    "decode_jwt_claims",
]
