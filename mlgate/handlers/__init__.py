"""Stage handlers: the registry, the safe runner and the built-in handlers (SPEC §9).

Names are exported lazily so that importing one submodule (or this package) stays cheap and
never imports torch::

    from mlgate.handlers import Registry, register_handler, run_handler, SmokeTarget
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Registry": "registry",
    "default_registry": "registry",
    "register_handler": "registry",
    "get_handler": "registry",
    "as_handler": "registry",
    "run_handler": "runner",
    "run_stage": "runner",
    "exit_code": "runner",
    "crashed": "runner",
    "missing_extra": "runner",
    "SmokeTarget": "torch_smoke",
    "TorchSmokeHandler": "torch_smoke",
    "LlmSmokeTarget": "llm_smoke",
    "LlmSmokeHandler": "llm_smoke",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mlgate.handlers' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"mlgate.handlers.{module}"), name)
    globals()[name] = value
    return value
