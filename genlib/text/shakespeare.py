"""Tiny Shakespeare as token ids, and the shipped character-level GPT trained on it (scripts/train_gpt.py)."""
from __future__ import annotations

import torch

from genlib.checkpoints import load_checkpoint, read_manifest
from genlib.data import load_shakespeare, shakespeare_splits
from genlib.text.gpt import GPT, GPTConfig
from genlib.text.tokenizers import CharTokenizer

CHECKPOINT = "gpt_shakespeare_char"


def char_tokenizer() -> CharTokenizer:
    """The 65-character vocabulary of the whole text (as nanoGPT's shakespeare_char)."""
    return CharTokenizer(load_shakespeare())


def encoded_splits(tokenizer: CharTokenizer | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) token ids: the first 90% and the last 10% of the text."""
    tokenizer = tokenizer or char_tokenizer()
    train, val = shakespeare_splits()
    return (torch.tensor(tokenizer.encode(train), dtype=torch.long),
            torch.tensor(tokenizer.encode(val), dtype=torch.long))


def load_gpt(device: torch.device | str = "cpu") -> tuple[GPT, CharTokenizer, dict]:
    """The shipped Shakespeare GPT (hash checked), its tokenizer and its manifest entry; KeyError if not shipped."""
    entry = read_manifest().get(CHECKPOINT)
    if entry is None:
        raise KeyError(f"checkpoint {CHECKPOINT!r} is not in checkpoints/manifest.json; "
                       "train it with `python scripts/train_gpt.py`")
    model = GPT(GPTConfig(**entry["settings"]["config"])).to(device)
    load_checkpoint(CHECKPOINT, model)
    return model.eval(), char_tokenizer(), entry
