"""The conversations, and how a conversation becomes a training example or a packed row."""
from __future__ import annotations

CLOSING = "Thanks for asking!"
INTENTS = {
    "password": (["How do I reset my password?", "I forgot my password.",
                  "Password reset please."],
                 "Open Settings, choose Security, then Reset password."),
    "invoice": (["Where is my invoice?", "I need last month's invoice.",
                 "How do I download an invoice?"],
                "Invoices are under Billing, one per month."),
    "cancel": (["How do I cancel my plan?", "Cancel my subscription.",
                "I want to stop paying."],
               "Go to Billing, choose Plan, then Cancel."),
    "email": (["How do I change my email?", "Update my email address.",
               "My email changed."],
              "Open Settings, choose Profile, then Email."),
}
LONG = ("Tell me everything about every setting, every plan, every invoice, every email "
        "and every password option you have, in full detail.")


def conversations() -> list[dict]:
    """Every conversation with an id; the long one is too long for max_length on purpose."""
    out = []
    for intent, (prompts, answer) in INTENTS.items():
        for k, prompt in enumerate(prompts):
            out.append({"id": f"{intent}-{k}", "messages": [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": f"{answer} {CLOSING}"}]})
    out.append({"id": "long-0", "messages": [
        {"role": "user", "content": LONG},
        {"role": "assistant", "content": " ".join(a for _, a in INTENTS.values()) + " " + CLOSING}]})
    return out


def build_example(tokenizer, messages: list[dict], max_length: int):
    """Prompt tokens labelled -100, answer tokens labelled with themselves, ended with the
    end-of-turn token. A sample whose answer does not fit is dropped (None), never cut."""
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False,
                                           add_generation_prompt=True)
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
    answer_ids = tokenizer.encode(messages[-1]["content"], add_special_tokens=False)
    answer_ids = answer_ids + [tokenizer.eos_token_id]
    input_ids = prompt_ids + answer_ids
    labels = [-100] * len(prompt_ids) + answer_ids
    if len(input_ids) > max_length:
        return None
    return {"input_ids": input_ids, "labels": labels}


def pack(examples: list[dict], length: int, pad_id: int) -> list[dict]:
    """Examples packed greedily into rows of ``length`` tokens. Each row holds a
    block-diagonal causal attention mask (one block per example) and positions that restart
    at every example, so no example sees another."""
    import torch

    rows, current = [], []
    for ex in examples:
        if current and sum(len(e["input_ids"]) for e in current) + len(ex["input_ids"]) > length:
            rows.append(current)
            current = []
        current.append(ex)
    if current:
        rows.append(current)
    out = []
    for group in rows:
        ids, labels, positions, spans = [], [], [], []
        for ex in group:
            start = len(ids)
            ids += ex["input_ids"]
            labels += ex["labels"]
            positions += list(range(len(ex["input_ids"])))
            spans.append((start, len(ids)))
        pad = length - len(ids)
        ids += [pad_id] * pad
        labels += [-100] * pad
        positions += [0] * pad
        mask = torch.zeros(length, length, dtype=torch.bool)
        for s, e in spans:
            mask[s:e, s:e] = True
        mask = torch.tril(mask)
        mask[len(ids) - pad:, :] = False
        for k in range(len(ids) - pad, length):
            mask[k, k] = True  # padding attends to itself only
        out.append({"input_ids": ids, "labels": labels, "position_ids": positions,
                    "attention_mask": mask[None]})
    return out
