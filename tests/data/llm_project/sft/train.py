"""Supervised fine-tuning of the support assistant, logged through mlgate.track.

    python -m sft.train --config configs/sft.json

Logged keys (the implementation plan's Monitoring table lists exactly these):
  train/loss          mean masked cross-entropy over the last logging interval
  val/loss            mean masked cross-entropy over the validation examples, eval mode
  eval/answer_match   greedy answers equal to the reference / validation prompts
  judge/format_score  mean rubric score (sft/judge.py) of the greedy answers
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import torch

from mlgate import track
from sft.data import build_example, pack
from sft.judge import format_score
from sft.model import build_model
from sft.tokenizer import load_tokenizer

DATA = Path("data/prepared")


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line]


def check_manifest() -> None:
    manifest = json.loads((DATA / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        if hashlib.sha256((DATA / name).read_bytes()).hexdigest() != digest:
            raise SystemExit(f"{DATA / name} changed since it was prepared")


def masked_loss(model, example: dict) -> torch.Tensor:
    ids = torch.tensor([example["input_ids"]])
    labels = torch.tensor([example["labels"]])
    return model(input_ids=ids, labels=labels).loss


@torch.no_grad()
def generate(model, tok, messages: list[dict], max_new_tokens: int) -> tuple[str, bool]:
    prompt = tok.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    ids = tok.encode(prompt, add_special_tokens=False)
    out: list[int] = []
    for _ in range(max_new_tokens):
        logits = model(input_ids=torch.tensor([ids + out])).logits[0, -1]
        nxt = int(logits.argmax())
        if nxt == tok.eos_token_id:
            return tok.decode(out), True
        out.append(nxt)
    return tok.decode(out), False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="configs/sft.json")
    args = parser.parse_args()
    cfg = json.loads(Path(args.config).read_text())
    torch.set_num_threads(1)
    torch.manual_seed(cfg["seed"])
    check_manifest()
    tok = load_tokenizer(str(DATA / "tokenizer.json"))
    train = [e for c in load("train.jsonl")
             if (e := build_example(tok, c["messages"], cfg["max_length"])) is not None]
    val_convs = load("val.jsonl")
    val = [build_example(tok, c["messages"], cfg["max_length"]) for c in val_convs]
    rows = pack(train, cfg["pack_length"], tok.pad_token_id)
    model = build_model(len(tok), seed=cfg["seed"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"])
    run = track.init(config=cfg)
    total, n = 0.0, 0
    for step in range(1, cfg["steps"] + 1):
        model.train()
        row = rows[step % len(rows)]
        loss = model(input_ids=torch.tensor([row["input_ids"]]),
                     attention_mask=row["attention_mask"][None],
                     position_ids=torch.tensor([row["position_ids"]]),
                     labels=torch.tensor([row["labels"]])).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        total, n = total + loss.item(), n + 1
        if step % cfg["log_every"] == 0 or step == cfg["steps"]:
            model.eval()
            with torch.no_grad():
                val_loss = sum(float(masked_loss(model, e)) for e in val) / len(val)
            run.log({"train/loss": total / n, "val/loss": val_loss}, step=step)
            total, n = 0.0, 0
    model.eval()
    answers = [generate(model, tok, c["messages"], cfg["max_new_tokens"]) for c in val_convs]
    match = sum(a.strip() == c["messages"][-1]["content"] for (a, _), c in
                zip(answers, val_convs)) / len(val_convs)
    judged = sum(format_score(a, stopped) for a, stopped in answers) / len(answers)
    run.log({"eval/answer_match": match, "judge/format_score": judged}, step=cfg["steps"])
    run_dir = getattr(run, "run_dir", None)
    if run_dir is not None:  # the sampled outputs the behavioural review reads
        (Path(run_dir) / "samples.jsonl").write_text("".join(json.dumps({"prompt": c["messages"][0]["content"],
                                               "answer": a, "stopped": s}) + "\n"
                                   for (a, s), c in zip(answers, val_convs)))
    print(f"val/loss {val_loss:.4f} answer_match {match:.3f} format {judged:.2f}", flush=True)
    run.finish()


if __name__ == "__main__":
    main()
