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


def load_or_train_gpt(device: torch.device | str = "cpu", steps: int = 300) -> tuple[GPT, str]:
    """The shipped GPT if it is there, else a small one trained now for `steps` steps, so a notebook always runs.

    Returns the model (in eval mode) and a phrase saying which it is.
    """
    try:
        model, _, _ = load_gpt(device)
        return model, "the shipped checkpoint"
    except (KeyError, FileNotFoundError):
        from genlib.text.pretrain import Recipe, pretrain  # only needed on this path
        train_ids, _ = encoded_splits()
        model = GPT(GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=4, n_embd=64)).to(device)
        pretrain(model, train_ids, Recipe(batch_size=32, block_size=64, lr=5e-3), steps=steps, device=device)
        return model.eval(), f"a {steps}-step run in this notebook"
