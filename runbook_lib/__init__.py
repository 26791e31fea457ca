"""agentops-runbooks: parameterized Jupyter runbooks for LiteLLM Proxy -> self-hosted AgentOps."""

from __future__ import annotations

from .checks import CHECKS_MIME, Check, Severity, Status, verdict_of
from .display import show_checks, show_verdict
from .errors import (
    ConfigError,
    DatabaseError,
    ExecutionError,
    MigrationError,
    ParameterError,
    ReportError,
    ReportPathError,
    RunbookError,
    SandboxError,
    SecretReferenceError,
    ServiceError,
    TraceStoreError,
    UsageError,
)
from .notebooks import list_notebooks
from .params import ParamSpec, read_declarations, validate_parameters
from .record import NotebookRecord, RunRecord, load_run, verify_run
from .secrets import SecretRef, redact, resolve_secret

__version__ = "0.1.0"

# Heavier parts load on first use, so a notebook kernel importing a check helper stays fast.
_LAZY = {
    "run_notebooks": "runner",
    "LiteLLMClient": "clients.litellm",
    "AgentOpsClient": "clients.agentops",
    "TokenInfo": "clients.agentops",
    "PostgresServer": "sandbox.postgres",
    "MigrationRunbook": "db.runbook",
    "SetupRunbook": "setup.runbook",
    "VerificationRunbook": "verification.runbook",
    "Runbook": "runbook",
    "drift_report": "db.drift",
    "run_repair": "db.repair",
    "probe_auth_query": "db.auth_probe",
    "TraceAnalytics": "traces.analytics",
    "TraceFilters": "traces.analytics",
    "TraceAnalyticsRunbook": "traces.runbook",
    "store_from_params": "traces.store",
    "generate_traces": "traces.synthetic",
    "run_verification": "verification",
    "render_wiring_snippet": "wiring",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "AgentOpsClient",
    "CHECKS_MIME",
    "Check",
    "ConfigError",
    "DatabaseError",
    "ExecutionError",
    "LiteLLMClient",
    "MigrationError",
    "MigrationRunbook",
    "NotebookRecord",
    "ParamSpec",
    "ParameterError",
    "PostgresServer",
    "ReportError",
    "ReportPathError",
    "RunRecord",
    "Runbook",
    "RunbookError",
    "SandboxError",
    "SecretRef",
    "SecretReferenceError",
    "ServiceError",
    "SetupRunbook",
    "Severity",
    "Status",
    "TokenInfo",
    "TraceAnalytics",
    "TraceAnalyticsRunbook",
    "TraceFilters",
    "TraceStoreError",
    "UsageError",
    "VerificationRunbook",
    "__version__",
    "drift_report",
    "generate_traces",
    "list_notebooks",
    "load_run",
    "probe_auth_query",
    "read_declarations",
    "redact",
    "render_wiring_snippet",
    "resolve_secret",
    "run_notebooks",
    "run_repair",
    "run_verification",
    "show_checks",
    "show_verdict",
    "store_from_params",
    "validate_parameters",
    "verdict_of",
    "verify_run",
]
