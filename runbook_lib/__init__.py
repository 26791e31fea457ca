"""agentops-runbooks: parameterized Jupyter runbooks for LiteLLM Proxy -> self-hosted AgentOps."""

from __future__ import annotations

from .checks import CHECKS_MIME, Check, Severity, Status, display_checks, verdict_of
from .errors import (
    ConfigError,
    DatabaseError,
    ExecutionError,
    MigrationError,
    ParameterError,
    ReportError,
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
from .runner import run_notebooks
from .secrets import SecretRef, redact, resolve_secret

__version__ = "0.1.0"

__all__ = [
    "CHECKS_MIME",
    "Check",
    "ConfigError",
    "DatabaseError",
    "ExecutionError",
    "MigrationError",
    "NotebookRecord",
    "ParamSpec",
    "ParameterError",
    "ReportError",
    "RunRecord",
    "RunbookError",
    "SandboxError",
    "SecretRef",
    "SecretReferenceError",
    "ServiceError",
    "Severity",
    "Status",
    "TraceStoreError",
    "UsageError",
    "__version__",
    "display_checks",
    "list_notebooks",
    "load_run",
    "read_declarations",
    "redact",
    "resolve_secret",
    "run_notebooks",
    "validate_parameters",
    "verdict_of",
    "verify_run",
]
