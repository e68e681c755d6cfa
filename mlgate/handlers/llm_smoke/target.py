"""What an llm-smoke factory returns: :class:`LlmSmokeTarget`, and turning the factory's value
into one (a target, or a dict with the same keys). The factory is imported and called the
way torch-smoke's is (:mod:`mlgate.handlers.torch_smoke.target`): the ticket's worktree
first on ``sys.path``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from mlgate.handlers.torch_smoke.target import FactoryError, _exc_line, _tb_tail, resolve_factory

Messages = list[dict[str, Any]]


@dataclass
class LlmSmokeTarget:
    """The pieces of a causal-LM fine-tuning set-up that llm-smoke checks.

    * ``tokenizer``: a Hugging Face tokenizer, or anything with ``encode(text,
      add_special_tokens=False)``, ``decode(ids, ...)``, ``eos_token``/``eos_token_id``,
      ``pad_token``/``pad_token_id`` and ``apply_chat_template`` (or give ``render``);
    * ``model``: a causal language model: ``model(input_ids=..., **row)`` returns logits
      (a tensor, or an object with ``.logits``) of shape ``(batch, length, vocab)``;
    * ``samples``: chat samples, each a list of messages ``{"role", "content"}`` whose last
      message is the assistant's answer;
    * ``build_example(messages) -> {"input_ids", "labels"}``: your code that turns a sample
      into a training example (the prompt's labels ``-100``, the answer's its tokens); it
      may return ``None`` for a sample it deliberately drops;
    * ``max_length``: the configured maximum example length, in tokens;
    * ``pack(examples) -> [row, ...]``: optional, your packing code; each row holds
      ``input_ids``, ``labels`` and the keyword arguments the model takes for it
      (``attention_mask``, ``position_ids``);
    * ``render(messages, add_generation_prompt) -> str``: optional; default
      ``tokenizer.apply_chat_template(messages, tokenize=False, ...)``;
    * ``optimizer``: optional callable taking the parameters (default
      ``torch.optim.AdamW(params, lr=<llm-smoke.lr>)``).
    """

    tokenizer: Any
    model: Any
    samples: Sequence[Messages]
    build_example: Callable[[Messages], Any]
    max_length: int
    pack: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None
    render: Callable[[Messages, bool], str] | None = None
    optimizer: Callable[..., Any] | None = None


_KEYS = tuple(f.name for f in fields(LlmSmokeTarget))
_REQUIRED = ("tokenizer", "model", "samples", "build_example", "max_length")


def coerce_target(value: Any, spec: str = "factory") -> LlmSmokeTarget:
    """An :class:`LlmSmokeTarget` from what the factory returned. Raises FactoryError."""
    expected = ("expected mlgate.handlers.llm_smoke.LlmSmokeTarget or a dict with the keys "
                "tokenizer, model, samples, build_example, max_length (optional: pack, render, "
                "optimizer)")
    if isinstance(value, LlmSmokeTarget):
        target = value
    elif isinstance(value, dict):
        unknown = sorted(set(value) - set(_KEYS))
        if unknown:
            raise FactoryError(f"factory {spec!r} returned a dict with unknown key(s) "
                               f"{', '.join(map(repr, unknown))}; {expected}")
        missing = [k for k in _REQUIRED if value.get(k) is None]
        if missing:
            raise FactoryError(f"factory {spec!r} returned a dict without "
                               f"{', '.join(map(repr, missing))}; {expected}")
        target = LlmSmokeTarget(**value)
    else:
        raise FactoryError(f"factory {spec!r} returned {type(value).__name__}; {expected}")
    return _validate(target, spec)


def _validate(t: LlmSmokeTarget, spec: str) -> LlmSmokeTarget:
    for name in ("encode", "decode"):
        if not callable(getattr(t.tokenizer, name, None)):
            raise FactoryError(f"factory {spec!r}: the tokenizer has no {name}() method")
    if not callable(t.model):
        raise FactoryError(f"factory {spec!r}: model is {type(t.model).__name__}, not callable")
    if not callable(t.build_example):
        raise FactoryError(f"factory {spec!r}: build_example must be a function taking the "
                           f"messages of a sample")
    for name in ("pack", "render", "optimizer"):
        v = getattr(t, name)
        if v is not None and not callable(v):
            raise FactoryError(f"factory {spec!r}: {name} must be a function, got "
                               f"{type(v).__name__}")
    if isinstance(t.max_length, bool) or not isinstance(t.max_length, int) or t.max_length < 2:
        raise FactoryError(f"factory {spec!r}: max_length must be an integer >= 2, got "
                           f"{t.max_length!r}")
    samples = list(t.samples) if isinstance(t.samples, (list, tuple)) else None
    if not samples:
        raise FactoryError(f"factory {spec!r}: samples must be a non-empty list of chat "
                           f"samples (lists of {{'role', 'content'}} messages)")
    for i, s in enumerate(samples):
        ok = isinstance(s, (list, tuple)) and len(s) >= 2 and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and
            isinstance(m.get("content"), str) for m in s)
        if not ok:
            raise FactoryError(f"factory {spec!r}: sample {i} is not a list of at least two "
                               f"{{'role': str, 'content': str}} messages")
        if s[-1]["role"] != "assistant":
            raise FactoryError(f"factory {spec!r}: sample {i} does not end with the "
                               f"assistant's answer (its last role is {s[-1]['role']!r})")
    t.samples = samples
    return t


def call_factory(spec: str) -> LlmSmokeTarget:
    """Resolve and call ``spec`` (the caller puts the worktree on ``sys.path``)."""
    factory = resolve_factory(spec)
    try:
        value = factory()
    except Exception as exc:  # noqa: BLE001 - the user's factory raised
        raise FactoryError(f"factory {spec!r} raised {_exc_line(exc)}", _tb_tail(exc)) from exc
    return coerce_target(value, spec)
