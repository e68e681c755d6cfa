"""The one error hierarchy of mlgate.

Every error carries structured data (attributes) and builds its message from it.
``exit_code`` is the CLI exit code the error maps to (SPEC §12):

* 1 refused: gate not met, edit denied, invalid transition
* 2 usage error: bad argument, bad ticket name, bad config
* 3 state file invalid or seal broken
* 4 environment error: git, handler crash, missing extra

Standard library only: the hook path imports this module.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs import time on the hook path
    from typing import Any


class MlgateError(Exception):
    """Root of every error mlgate raises on purpose."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data: dict[str, Any] = data

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.kind, "message": self.message}
        for key, value in self.data.items():
            if hasattr(value, "to_dict"):
                value = value.to_dict()
            elif isinstance(value, (list, tuple)):
                value = [v.to_dict() if hasattr(v, "to_dict") else v for v in value]
            out[key] = value
        return out

    def __str__(self) -> str:
        return self.message


# --- exit 2: usage -----------------------------------------------------------


class UsageError(MlgateError):
    """A bad argument given by the caller."""

    exit_code = 2
    kind = "usage"


class InvalidTicketName(UsageError):
    kind = "invalid_ticket_name"

    def __init__(self, name: str, rule: str) -> None:
        super().__init__(f"invalid ticket name {name!r}: {rule}", name=name, rule=rule)
        self.name = name
        self.rule = rule


class ConfigError(UsageError):
    """mlgate.yaml is malformed or has an unknown key / bad value."""

    kind = "config"

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}", path=path, line=line)
        self.path = path
        self.line = line


class ProfileError(UsageError):
    """A domain profile that is unknown, or whose definition is malformed."""

    kind = "profile"

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {message}", source=source, line=line)
        self.source = source
        self.line = line
        self.detail = message


class TicketNotFound(UsageError):
    kind = "ticket_not_found"

    def __init__(self, name: str | None, known: list[str] | None = None, hint: str = "") -> None:
        if name is None:
            msg = "no ticket given and the current directory is not inside a ticket's worktree"
        else:
            msg = f"no ticket named {name!r}"
        if known:
            msg += f" (known: {', '.join(known)})"
        if hint:
            msg += f"\nhint: {hint}"
        super().__init__(msg, name=name, known=known or [])
        self.name = name


class TicketExists(UsageError):
    kind = "ticket_exists"


class WorkspaceNotFound(UsageError):
    kind = "workspace_not_found"


# --- exit 1: refusals ----------------------------------------------------------


class Refused(MlgateError):
    """An operation the workflow does not allow right now."""

    exit_code = 1
    kind = "refused"


class GateFailed(Refused):
    """The current stage's gate does not hold. ``report`` lists every failing check."""

    kind = "gate_failed"

    def __init__(self, report: Any) -> None:
        failing = [c for c in report.checks if not c.ok]
        lines = [f"stage {report.stage} gate not met for ticket {report.ticket!r}: "
                 f"{len(failing)} failing check(s)"]
        lines += [f"  - [{c.id}] {c.reason}" for c in failing]
        super().__init__("\n".join(lines), report=report)
        self.report = report
        self.checks = report.checks


class TransitionNotAllowed(Refused):
    """A move the state machine does not have (with what *is* allowed)."""

    kind = "transition_not_allowed"

    def __init__(self, action: str, stage: int | None, reason: str,
                 allowed: list[str] | None = None, ticket: str | None = None) -> None:
        msg = f"cannot {action} ticket {ticket!r} at stage {stage}: {reason}" if ticket else \
            f"cannot {action} at stage {stage}: {reason}"
        if allowed:
            msg += "\nallowed: " + "; ".join(allowed)
        super().__init__(msg, action=action, stage=stage, reason=reason,
                         allowed=allowed or [], ticket=ticket)
        self.action = action
        self.stage = stage
        self.reason = reason
        self.allowed = allowed or []


class EditDenied(Refused):
    kind = "edit_denied"


# --- exit 3: state file --------------------------------------------------------


class StateFileError(MlgateError):
    """A workflow-state.md (or artifact) mlgate cannot parse. Never overwritten."""

    exit_code = 3
    kind = "state_file"

    def __init__(self, path: str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}", path=str(path), line=line, detail=message)
        self.path = str(path)
        self.line = line
        self.detail = message


class SealBroken(StateFileError):
    """The state file was edited by hand where mlgate owns the fields."""

    kind = "seal_broken"


# --- exit 4: environment -------------------------------------------------------


class EnvironmentFailure(MlgateError):
    exit_code = 4
    kind = "environment"


class GitError(EnvironmentFailure):
    kind = "git"

    def __init__(self, cmd: list[str] | tuple[str, ...], returncode: int, stderr: str,
                 hint: str = "") -> None:
        msg = f"git failed ({returncode}): {' '.join(cmd)}"
        if stderr.strip():
            msg += "\n" + "\n".join("  " + ln for ln in stderr.strip().splitlines())
        if hint:
            msg += f"\nhint: {hint}"
        super().__init__(msg, cmd=list(cmd), returncode=returncode, stderr=stderr)
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stderr = stderr


class LockTimeout(EnvironmentFailure):
    kind = "lock_timeout"


class HandlerError(EnvironmentFailure):
    """A handler that is unknown, failed to load or crashed."""

    kind = "handler"


class MissingExtra(HandlerError):
    kind = "missing_extra"

    def __init__(self, package: str, extra: str, what: str = "") -> None:
        msg = (f"{what or 'this feature'} needs {package!r}, which is not installed\n"
               f"hint: pip install 'mlgate[{extra}]'")
        super().__init__(msg, package=package, extra=extra)
        self.package = package
        self.extra = extra


class WriteFailed(EnvironmentFailure):
    """Writing a file failed (disk full, read-only, permission). The old file is intact."""

    kind = "write_failed"
