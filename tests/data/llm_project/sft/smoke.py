"""The llm-smoke factory: the tokenizer, the model, a few conversations and this project's
example and packing code."""
from __future__ import annotations

from sft.data import build_example, conversations, pack
from sft.model import build_model
from sft.tokenizer import build_tokenizer

MAX_LENGTH = 64
PACK_LENGTH = 128


def make() -> dict:
    convs = conversations()
    texts = [m["content"] for c in convs for m in c["messages"]]
    tok = build_tokenizer(texts)
    return {
        "tokenizer": tok,
        "model": build_model(len(tok)),
        "samples": [c["messages"] for c in convs],
        "build_example": lambda messages: build_example(tok, messages, MAX_LENGTH),
        "max_length": MAX_LENGTH,
        "pack": lambda examples: pack(examples, PACK_LENGTH, tok.pad_token_id),
    }
