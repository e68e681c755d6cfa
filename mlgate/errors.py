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


def error_object(kind: str, message: str, exit_code: int, **data: Any) -> dict[str, Any]:
    """``{"error": kind, "message": message, "exit_code": exit_code, **data}``: the JSON of a
    refusal or an error, for errors that are not :class:`MlgateError` too (usage, OS)."""
    return {"error": kind, "message": message, "exit_code": exit_code, **data}


def os_error_object(exc: OSError) -> dict[str, Any]:
    """The JSON of a file-system refusal (disk full, read-only, permissions): exit 4."""
    where = f" ({exc.filename})" if exc.filename else ""
    msg = (f"{exc.strerror or exc}{where}\nhint: check free space and permissions there, "
           "then run the command again")
    return error_object("environment", msg, 4, path=exc.filename, errno=exc.errno)


class MlgateError(Exception):
    """Root of every error mlgate raises on purpose."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data: dict[str, Any] = data

    def to_dict(self) -> dict[str, Any]:
        """The one JSON shape of every refusal and error (``mlgate --json``, the MCP
        server): ``{"error", "message", "exit_code", ...}`` plus the structured fields."""
        out: dict[str, Any] = error_object(self.kind, self.message, self.exit_code)
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

    def to_dict(self) -> dict[str, Any]:
        """The gate report at the top level (``ticket``, ``stage``, ``ok``, ``checks``) plus
        ``error`` and ``message``: what ``--json`` prints for a refused move."""
        data: dict[str, Any] = self.report.to_dict()
        return data | error_object(self.kind, self.message, self.exit_code)


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


class HandlerNotConfigured(Refused):
    """``mlgate run HANDLER`` for a handler that ``mlgate.yaml`` does not list for the ticket's
    current stage (running it would record evidence, or start a training run, out of stage)."""

    kind = "handler_not_configured"

    def __init__(self, handler: str, ticket: str, stage: int, stage_label: str,
                 configured: list[str], stages: list[int]) -> None:
        msg = (f"handler {handler!r} is not configured for stage {stage_label} of ticket "
               f"{ticket!r}")
        if stages:
            msg += f"; mlgate.yaml lists it for stage {', '.join(map(str, stages))}"
        msg += (f"; configured for stage {stage}: "
                + (", ".join(configured) if configured else "none"))
        if stages:
            msg += (f"\nhint: run it once the ticket is in stage {stages[0]}"
                    if stage < stages[0] else
                    f"\nhint: run it in stage {', '.join(map(str, stages))}, or list it for "
                    f"stage {stage} under `handlers:` in mlgate.yaml")
        else:
            msg += (f"\nhint: list it under `handlers:` in mlgate.yaml, e.g. "
                    f"handlers: {{{stage}: [{handler}]}}")
        super().__init__(msg, handler=handler, ticket=ticket, stage=stage,
                         configured=configured, stages=stages)
class HumanRequired(Refused):
    """A decision only a person may take (verify, clearing violations, baseline changes,
    removing hooks), asked for by an agent, or without the person's confirmation."""

    kind = "human_required"

    def __init__(self, action: str, reason: str, hint: str = "") -> None:
        msg = f"{action} needs a person: {reason}"
        if hint:
            msg += f"\nhint: {hint}"
        super().__init__(msg, action=action, reason=reason)
        self.action = action
        self.reason = reason


class AuditFailed(Refused):
    """``mlgate audit`` found commits, transitions or evidence that break the workflow."""

    kind = "audit_failed"

    def __init__(self, report: Any, hint: str = "") -> None:
        lines = [f"audit of {report.branch} failed: {len(report.findings)} finding(s)"]
        lines += [f"  {f.line()}" for f in report.findings]
        if hint:
            lines.append(f"hint: {hint}")
        super().__init__("\n".join(lines), report=report)
        self.report = report


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

    def __init__(self, message: str, hint: str = "", **data: Any) -> None:
        super().__init__(message + (f"\nhint: {hint}" if hint else ""), **data)


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


class MetricSourceError(UsageError):
    """A run's metric source (a wandb record, a CSV or TensorBoard log, a regex over stdout)
    cannot be read: the message names the file, what is wrong and what to do."""

    kind = "metric_source"
