"""The llm-smoke checks over one :class:`~mlgate.handlers.llm_smoke.target.LlmSmokeTarget`.

Each check looks at behaviour, not at what the code says about itself:

* ``tokenizer``: ``decode(encode(text)) == text`` for every rendered sample;
* ``special_tokens``: EOS and PAD exist and are single tokens, every special token in a
  rendered sample stays one token, and every built example ends with EOS, learned as a label;
* ``chat_template``: every sample renders, its messages appear in order, and the prompt
  rendered with the generation prompt is a prefix of the whole conversation;
* ``masking``: an example starts with the rendered prompt's tokens, all of them ``-100``, and
  the answer's tokens are labelled with themselves;
* ``truncation``: no example is longer than ``max_length`` and each holds its whole answer;
* ``packing``: each packed row gives every sample the same logits as the sample alone, and
  the same labels (attention, positions and labels never cross a sample boundary);
* ``loss``: one optimiser step on the examples lowers the loss computed on the labels.

torch is imported only inside functions.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

from mlgate.evidence.results import CheckResult, HandlerContext
from mlgate.handlers.llm_smoke.options import _DEPENDS, IGNORE_INDEX, NAME, Skip
from mlgate.handlers.llm_smoke.target import LlmSmokeTarget
from mlgate.handlers.torch_smoke.base import CheckRunner
from mlgate.handlers.torch_smoke.target import _exc_line

SHOWN = 3  # samples named in a failing detail at most


def _ids(value: Any) -> list[int]:
    """A flat list of ints from a list, a tuple or a 1-row tensor."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if value and isinstance(value[0], (list, tuple)):
        if len(value) != 1:
            raise ValueError(f"expected one sequence, got a batch of {len(value)}")
        value = value[0]
    return [int(v) for v in value]


def _clip(text: str, n: int = 40) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= n else text[:n] + "…"


def _tail(text: str, n: int = 30) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= n else "…" + text[-n:]


class Example:
    """One built example: the sample index, its ids, its labels and the prompt length."""

    def __init__(self, index: int, input_ids: list[int], labels: list[int],
                 attention: list[int] | None) -> None:
        self.index = index
        self.input_ids = input_ids
        self.labels = labels
        self.attention = attention

    @property
    def length(self) -> int:
        """Tokens before any right padding."""
        if self.attention is not None and 0 in self.attention:
            return self.attention.index(0)
        return len(self.input_ids)


class Checks(CheckRunner):
    """Runs the checks; results in ``self.checks`` (one check at a time: ``run_check`` of
    :class:`~mlgate.handlers.torch_smoke.base.CheckRunner`)."""

    handler = NAME
    depends = _DEPENDS
    skip_exc = Skip

    def __init__(self, target: LlmSmokeTarget, opts: dict[str, Any],
                 ctx: HandlerContext) -> None:
        import torch

        self.torch = torch
        self.t = target
        self.o = opts
        self.ctx = ctx
        self.tok = target.tokenizer
        self.max_length = int(opts["max_length"] or target.max_length)
        self.samples = list(target.samples)[: int(opts["max_samples"])]
        want = opts["device"]
        cuda = bool(torch.cuda.is_available())
        self.device = torch.device("cuda" if want == "cuda" or (want == "auto" and cuda)
                                   else "cpu")
        if self.device.type == "cuda" and not cuda:
            self.device = torch.device("cpu")
        self.checks: list[CheckResult] = []
        self.metrics: dict[str, Any] = {}
        self.worktree = str(Path(ctx.worktree).resolve())
        self.examples: list[Example] = []
        self.dropped: list[int] = []
        self.example_error: str | None = None
        self.rendered: dict[int, tuple[str, str]] = {}  # sample -> (prompt, full)

    # -- plumbing ---------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        try:
            return _ids(self.tok.encode(text, add_special_tokens=False))
        except TypeError:
            return _ids(self.tok.encode(text))

    def decode(self, ids: list[int]) -> str:
        try:
            text = self.tok.decode(ids, skip_special_tokens=False,
                                   clean_up_tokenization_spaces=False)
        except TypeError:
            text = self.tok.decode(ids)
        return str(text)

    def render(self, messages: list[dict[str, Any]], generation_prompt: bool) -> str:
        if self.t.render is not None:
            return str(self.t.render(messages, generation_prompt))
        apply = getattr(self.tok, "apply_chat_template", None)
        if apply is None or getattr(self.tok, "chat_template", "") is None:
            raise Skip("the tokenizer has no chat template and the target gives no render()")
        return str(apply(messages, tokenize=False, add_generation_prompt=generation_prompt))

    def token(self, i: int) -> str:
        try:
            return repr(self.decode([i]))
        except Exception:  # noqa: BLE001
            return str(i)

    def build(self) -> None:
        """Build each sample's example once (every check that needs them reads these)."""
        for i, sample in enumerate(self.samples):
            try:
                ex = self.t.build_example([dict(m) for m in sample])
                if ex is None:
                    self.dropped.append(i)
                    continue
                if not isinstance(ex, dict) or "input_ids" not in ex or "labels" not in ex:
                    raise TypeError(f"build_example returned {type(ex).__name__}, not a dict "
                                    f"with input_ids and labels")
                att = _ids(ex["attention_mask"]) if ex.get("attention_mask") is not None \
                    else None
                self.examples.append(Example(i, _ids(ex["input_ids"]), _ids(ex["labels"]),
                                             att))
            except Exception as exc:  # noqa: BLE001 - the user's code raised
                self.example_error = (f"build_example raised {_exc_line(exc)} for sample "
                                      f"{i}{self.where(exc)}")
                return

    def need_examples(self) -> list[Example]:
        if self.example_error:
            raise RuntimeError(self.example_error)
        if not self.examples:
            raise Skip(f"build_example dropped every sample ({len(self.dropped)})")
        return self.examples

    # -- the checks -------------------------------------------------------------------

    def check_tokenizer(self) -> tuple[str, str]:
        bad = []
        texts = 0
        for i, sample in enumerate(self.samples):
            try:
                pieces = [self.render(sample, False)]
            except Skip:
                pieces = [m["content"] for m in sample]
            for text in pieces:
                texts += 1
                back = self.decode(self.encode(text))
                if back != text:
                    at = next((k for k, (a, b) in enumerate(zip(text, back)) if a != b),
                              min(len(text), len(back)))
                    bad.append(f"sample {i}: decode(encode(text)) differs at character {at} "
                               f"({_clip(text[at:], 20)!r} became {_clip(back[at:], 20)!r})")
        if bad:
            return "fail", f"{len(bad)} of {texts} text(s) do not round-trip: " + \
                "; ".join(bad[:SHOWN])
        return "pass", f"{texts} text(s) round-trip through encode/decode"

    def check_special_tokens(self) -> tuple[str, str]:
        problems = []
        tok = self.tok
        eos_id = getattr(tok, "eos_token_id", None)
        for name in ("eos", "pad"):
            token = getattr(tok, f"{name}_token", None)
            tid = getattr(tok, f"{name}_token_id", None)
            if token is None or tid is None:
                problems.append(f"the tokenizer has no {name.upper()} token")
            elif self.encode(str(token)) != [tid]:
                problems.append(f"{name.upper()} token {str(token)!r} encodes to "
                                f"{self.encode(str(token))}, not to its id [{tid}]")
        specials = [s for s in (getattr(tok, "all_special_tokens", None) or []) if s]
        rendered = ""
        for sample in self.samples:
            try:
                rendered += self.render(sample, False)
            except Skip:
                break
        for s in specials:
            if s in rendered and len(self.encode(s)) != 1:
                problems.append(f"special token {s!r} used by the template splits into "
                                f"{len(self.encode(s))} tokens")
        if eos_id is not None:
            missing = []
            for ex in self.need_examples():
                n = ex.length
                last = ex.input_ids[n - 1] if n else None
                if last != eos_id:
                    missing.append(f"sample {ex.index} ends with {self.token(last)} "
                                   f"(…{_tail(self.decode(ex.input_ids[:n]))!r})"
                                   if last is not None else f"sample {ex.index} is empty")
                elif ex.labels[n - 1] != eos_id:
                    missing.append(f"sample {ex.index} ends with EOS but its label there is "
                                   f"{ex.labels[n - 1]}, so the model never learns to stop")
            if missing:
                problems.append(f"{len(missing)} of {len(self.examples)} example(s) do not "
                                f"end with the EOS token {getattr(tok, 'eos_token', '')!r}: "
                                + "; ".join(missing[:SHOWN]))
        if problems:
            return "fail", "; ".join(problems)
        return "pass", (f"EOS {tok.eos_token!r} and PAD {tok.pad_token!r} are single tokens; "
                        f"{len(self.examples)} example(s) end with EOS as a label")

    def check_chat_template(self) -> tuple[str, str]:
        bad = []
        for i, sample in enumerate(self.samples):
            full = self.render(sample, False)
            prompt = self.render(sample[:-1], True)
            self.rendered[i] = (prompt, full)
            pos = 0
            for k, m in enumerate(sample):
                at = full.find(m["content"], pos)
                if at < 0:
                    bad.append(f"sample {i}: message {k} ({m['role']}) is missing from the "
                               f"rendered text, or out of order")
                    break
                pos = at + len(m["content"])
            if not full.startswith(prompt):
                bad.append(f"sample {i}: the prompt rendered with the generation prompt "
                           f"({_tail(prompt)!r}) is not the start of the whole conversation "
                           f"({_clip(full[len(prompt) - 30 if len(prompt) > 30 else 0:])!r})")
        if bad:
            return "fail", "; ".join(bad[:SHOWN])
        sample = self.rendered[0][1]
        return "pass", f"{len(self.samples)} sample(s) render; e.g. {_clip(sample, 60)!r}"

    def check_masking(self) -> tuple[str, str]:
        bad = []
        prompt_tokens = answer_tokens = 0
        for ex in self.need_examples():
            prompt_ids = self.encode(self.rendered[ex.index][0])
            n = len(prompt_ids)
            if len(ex.labels) != len(ex.input_ids):
                bad.append(f"sample {ex.index}: {len(ex.labels)} labels for "
                           f"{len(ex.input_ids)} tokens")
                continue
            if ex.input_ids[:n] != prompt_ids:
                at = next((k for k, (a, b) in enumerate(zip(ex.input_ids, prompt_ids))
                           if a != b), min(n, len(ex.input_ids)))
                bad.append(f"sample {ex.index}: the example does not start with the rendered "
                           f"prompt's {n} tokens (they differ at position {at})")
                continue
            labelled = [k for k in range(n) if ex.labels[k] != IGNORE_INDEX]
            if labelled:
                k = labelled[0]
                bad.append(f"sample {ex.index}: {len(labelled)} of {n} prompt tokens carry a "
                           f"label instead of {IGNORE_INDEX} (first at position {k}, "
                           f"{self.token(ex.input_ids[k])})")
                continue
            end = ex.length
            wrong = [k for k in range(n, end) if ex.labels[k] != ex.input_ids[k]]
            if wrong:
                k = wrong[0]
                bad.append(f"sample {ex.index}: {len(wrong)} answer token(s) are not labelled "
                           f"with themselves (first at position {k}: label {ex.labels[k]} "
                           f"for {self.token(ex.input_ids[k])})")
                continue
            pad = [k for k in range(end, len(ex.labels)) if ex.labels[k] != IGNORE_INDEX]
            if pad:
                bad.append(f"sample {ex.index}: {len(pad)} padding position(s) carry a label")
                continue
            prompt_tokens += n
            answer_tokens += end - n
        if bad:
            return "fail", f"{len(bad)} of {len(self.examples)} example(s): " + \
                "; ".join(bad[:SHOWN])
        self.metrics["prompt_tokens"] = prompt_tokens
        self.metrics["answer_tokens"] = answer_tokens
        return "pass", (f"{prompt_tokens} prompt token(s) masked with {IGNORE_INDEX}, "
                        f"{answer_tokens} answer token(s) labelled, in {len(self.examples)} "
                        f"example(s)")

    def check_truncation(self) -> tuple[str, str]:
        bad = []
        longest = 0
        for ex in self.need_examples():
            n = ex.length
            longest = max(longest, n)
            if n > self.max_length:
                bad.append(f"sample {ex.index}: {n} tokens, longer than max_length "
                           f"{self.max_length}")
                continue
            answer = self.samples[ex.index][-1]["content"]
            prompt_len = len(self.encode(self.rendered[ex.index][0]))
            kept = self.decode(ex.input_ids[prompt_len:n])
            if answer not in kept:
                bad.append(f"sample {ex.index}: the answer is cut ({n} tokens, max_length "
                           f"{self.max_length}): the example keeps {_clip(kept, 30)!r} of "
                           f"{_clip(answer, 30)!r}")
        if bad:
            return "fail", f"{len(bad)} of {len(self.examples)} example(s): " + \
                "; ".join(bad[:SHOWN])
        self.metrics["longest_example"] = longest
        dropped = f"; build_example dropped sample(s) {self.dropped}" if self.dropped else ""
        return "pass", (f"every answer whole; longest example {longest} of max_length "
                        f"{self.max_length}{dropped}")

    # -- model ------------------------------------------------------------------------

    def logits(self, model: Any, inputs: dict[str, Any]) -> Any:
        out = model(**inputs)
        logits = getattr(out, "logits", out)
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        return logits

    def tensor(self, value: Any) -> Any:
        """``value`` (one sequence, or one row's mask: no batch dimension) as a batch of one
        on the device."""
        return self.torch.as_tensor(value)[None].to(self.device)

    def fresh(self) -> Any:
        m = copy.deepcopy(self.t.model)
        if hasattr(m, "to"):
            m = m.to(self.device)
        return m

    def check_packing(self) -> tuple[str, str]:
        if self.t.pack is None:
            raise Skip("skipped: the target has no pack() (no packing to check)")
        torch = self.torch
        examples = self.need_examples()
        plain = [{"input_ids": ex.input_ids[:ex.length], "labels": ex.labels[:ex.length]}
                 for ex in examples]
        rows = self.t.pack([dict(e) for e in plain])
        if not isinstance(rows, (list, tuple)) or not rows:
            return "fail", f"pack() returned {type(rows).__name__}, not a list of rows"
        model = self.fresh()
        if hasattr(model, "eval"):
            model.eval()
        # different kernels for a row and for a sample alone: exact on CPU, close on CUDA; a
        # sample that sees another is off by orders of magnitude more than either
        atol = float(self.o["atol"]) if self.o["atol"] is not None else \
            (1e-4 if self.device.type == "cpu" else 1e-2)
        rows_ids = [_ids(r["input_ids"]) for r in rows]
        used: dict[int, list[tuple[int, int]]] = {}
        bad = []
        with torch.no_grad():
            for ex, e in zip(examples, plain):
                seq = e["input_ids"]
                hit = None
                for r, ids in enumerate(rows_ids):
                    start = _find(ids, seq, [s for s, _ in used.get(r, [])])
                    if start is not None:
                        hit = (r, start)
                        break
                if hit is None:
                    bad.append(f"sample {ex.index} does not appear whole in any packed row "
                               f"(split across rows, or changed)")
                    continue
                r, start = hit
                used.setdefault(r, []).append((start, start + len(seq)))
                labels = _ids(rows[r]["labels"])[start:start + len(seq)]
                if labels != e["labels"]:
                    k = next(i for i, (a, b) in enumerate(zip(labels, e["labels"])) if a != b)
                    bad.append(f"sample {ex.index} in row {r}: its labels changed when packed "
                               f"(position {k}: {labels[k]} instead of {e['labels'][k]})")
                    continue
                alone = self.logits(model, {"input_ids": self.tensor(seq)})[0]
                inputs = {k: self.tensor(v) for k, v in rows[r].items()
                          if k != "labels" and v is not None}
                packed = self.logits(model, inputs)[0, start:start + len(seq)]
                diff = float((packed.float() - alone.float()).abs().max())
                if not math.isfinite(diff) or diff > atol:
                    bad.append(f"sample {ex.index} at tokens {start}-{start + len(seq) - 1} of "
                               f"row {r}: its logits differ from the sample alone by {diff:.3g} "
                               f"(> {atol:g}): attention or positions cross a sample boundary")
            for r, spans in used.items():
                lab = _ids(rows[r]["labels"])
                covered = {k for s, e in spans for k in range(s, e)}
                stray = [k for k in range(len(lab)) if k not in covered and lab[k] != IGNORE_INDEX]
                if stray:
                    bad.append(f"row {r}: {len(stray)} label(s) outside every sample (first at "
                               f"position {stray[0]})")
        if bad:
            return "fail", "; ".join(bad[:SHOWN])
        return "pass", (f"{len(examples)} sample(s) in {len(rows)} packed row(s): each gets the "
                        f"logits and labels it has alone (tolerance {atol:g})")

    def check_loss(self) -> tuple[str, str]:
        torch = self.torch
        examples = self.need_examples()
        if self.t.pack is not None and self.status_of("packing") == "pass":
            rows = self.t.pack([{"input_ids": ex.input_ids[:ex.length],
                                 "labels": ex.labels[:ex.length]} for ex in examples])
            batches = [{k: self.tensor(v) for k, v in r.items() if v is not None} for r in rows]
            what = f"{len(batches)} packed row(s)"
        else:
            batches = [{"input_ids": self.tensor(ex.input_ids[:ex.length]),
                        "labels": self.tensor(ex.labels[:ex.length])} for ex in examples]
            what = f"{len(batches)} example(s)"
        model = self.fresh()
        if hasattr(model, "train"):
            model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = self.t.optimizer(params) if self.t.optimizer is not None else \
            torch.optim.AdamW(params, lr=float(self.o["lr"]))

        def loss_of() -> Any:
            total = torch.zeros((), device=self.device)
            count = 0
            for b in batches:
                labels = b["labels"]
                logits = self.logits(model, {k: v for k, v in b.items() if k != "labels"})
                shift_logits = logits[:, :-1].float()
                shift_labels = labels[:, 1:]
                n = int((shift_labels != IGNORE_INDEX).sum())
                if n:
                    total = total + torch.nn.functional.cross_entropy(
                        shift_logits.reshape(-1, shift_logits.shape[-1]),
                        shift_labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum")
                    count += n
            if not count:
                raise Skip("skipped: no example has a labelled token to learn")
            return total / count

        before = loss_of()
        if not torch.isfinite(before):
            return "fail", f"the loss before the step is {float(before)}"
        opt.zero_grad()
        before.backward()
        opt.step()
        with torch.no_grad():
            after = loss_of()
        b, a = float(before.detach()), float(after)
        self.metrics["loss_before"] = round(b, 6)
        self.metrics["loss_after"] = round(a, 6)
        if not math.isfinite(a) or a >= b:
            return "fail", (f"one optimiser step on {what} did not lower the loss ({b:.4f} -> "
                            f"{a:.4f}); check that the labelled tokens reach the loss and "
                            f"the parameters are trainable")
        return "pass", f"one optimiser step on {what} lowers the loss {b:.4f} -> {a:.4f}"


def _find(haystack: list[int], needle: list[int], taken: list[int]) -> int | None:
    """The first start of ``needle`` in ``haystack`` not in ``taken``."""
    n = len(needle)
    for s in range(len(haystack) - n + 1):
        if s not in taken and haystack[s:s + n] == needle:
            return s
    return None
