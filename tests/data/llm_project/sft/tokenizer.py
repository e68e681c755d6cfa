"""The tokenizer: byte-level BPE trained on the conversations, with the chat template."""
from __future__ import annotations

from collections.abc import Iterable

SPECIALS = ["<|pad|>", "<|user|>", "<|assistant|>", "<|end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] }}"
    "{% if m['role'] == 'assistant' %}{{ '<|end|>' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)
TEMPLATE_VERSION = "v2"


def build_tokenizer(texts: Iterable[str], vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tk.train_from_iterator(list(texts), trainer)
    return wrap(tk)


def wrap(tk):
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<|pad|>", eos_token="<|end|>",
                                  additional_special_tokens=["<|user|>", "<|assistant|>"])
    tok.chat_template = CHAT_TEMPLATE
    return tok


def load_tokenizer(path: str):
    from tokenizers import Tokenizer

    return wrap(Tokenizer.from_file(path))
