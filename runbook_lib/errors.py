"""One exception tree for the whole package.

Every error a user can meet derives from :class:`RunbookError`. Messages say what went wrong,
the likely cause and what to do; they never contain secret values.
"""

from __future__ import annotations


class RunbookError(Exception):
    """Base class of every error raised by runbook_lib.

    ``exit_code`` is what the ``runbook`` CLI exits with when this error ends a command.
    """

    exit_code: int = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}\n  fix: {hint}" if hint else message)


class UsageError(RunbookError):
    """The command line or the call itself is wrong (unknown notebook, bad option)."""

    exit_code = 3


class ParameterError(UsageError):
    """A notebook parameter is unknown, of the wrong type, malformed or missing."""


class SecretReferenceError(ParameterError):
    """A secret parameter is not a reference, or its reference cannot be resolved."""


class ConfigError(RunbookError):
    """A configuration file cannot be read or parsed."""


class ServiceError(RunbookError):
    """A service (LiteLLM, AgentOps API, collector, ClickHouse) failed or could not be reached."""

    def __init__(self, message: str, *, hint: str | None = None, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message, hint=hint)


class DatabaseError(RunbookError):
    """PostgreSQL could not be reached, refused the login, or a statement failed."""


class MigrationError(DatabaseError):
    """A repair step failed or a preflight probe found data that would break it; nothing was changed."""


class TraceStoreError(ServiceError):
    """The trace store (ClickHouse, the sandbox store or a dump file) failed a query."""


class SandboxError(RunbookError):
    """The local sandbox could not start, stop or report its state."""


class SandboxRunningError(SandboxError):
    """``sandbox up`` while a sandbox already runs from that state folder: a usage error (exit 3)."""

    exit_code = 3


class ExecutionError(RunbookError):
    """A notebook raised or its kernel died during a run."""


class ReportError(RunbookError):
    """A report folder is incomplete, or differs from what its run recorded."""

    exit_code = 1


class ReportPathError(ReportError, UsageError):
    """A path given as a report folder (or a folder of reports) does not exist or holds no run: a usage
    error (exit 3), not a damaged report."""

    exit_code = 3
