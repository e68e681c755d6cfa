"""The model: a 2-layer GPT-2 built from a config (nothing is downloaded)."""
from __future__ import annotations


def build_model(vocab_size: int, n_positions: int = 256, seed: int = 0):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=64, n_layer=2,
                        n_head=2, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    return GPT2LMHeadModel(config)
