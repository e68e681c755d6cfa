"""mlgate: a stage-gated ML experiment workflow, made mechanical.

The public API (SPEC §12)::

    from mlgate import Workspace
    ws = Workspace.discover(".")
    t = ws.new_ticket("digits-baseline")
    report = t.check()          # GateReport(ok, checks)
    t.advance()                 # raises GateFailed with every failing check

Names are imported lazily so that ``import mlgate`` (and the hooks) stay fast.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs import time on the hook path
    from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Workspace": "mlgate.workspace",
    "Ticket": "mlgate.workspace",
    "WorkflowState": "mlgate.state.model",
    "GateReport": "mlgate.gates",
    "Check": "mlgate.gates",
    "Decision": "mlgate.lock.policy",
    "decide": "mlgate.lock.policy",
    "HandlerResult": "mlgate.evidence.results",
    "HandlerContext": "mlgate.evidence.results",
    "CheckResult": "mlgate.evidence.results",
    "StageHandler": "mlgate.evidence.results",
    "SmokeTarget": "mlgate.handlers.torch_smoke",
    "LlmSmokeTarget": "mlgate.handlers.llm_smoke",
    "Profile": "mlgate.profiles",
    "register_handler": "mlgate.handlers.registry",
    "MlgateError": "mlgate.errors",
    "GateFailed": "mlgate.errors",
    "StateFileError": "mlgate.errors",
    "TransitionNotAllowed": "mlgate.errors",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlgate' has no attribute {name!r}")
