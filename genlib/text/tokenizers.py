"""Character tokenizer: one token per distinct character, the simplest vocabulary a language model can have."""
from __future__ import annotations

import torch


class CharTokenizer:
    """Maps each character seen in the training text to an integer id and back."""

    def __init__(self, text_or_chars: str | list[str]):
        chars = sorted(set(text_or_chars))
        if not chars:
            raise ValueError("cannot build a vocabulary from empty text: pass the training text (or its characters), "
                             "e.g. CharTokenizer(genlib.data.load_shakespeare())")
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Text to ids; a character outside the vocabulary is a clear error, never a silent guess."""
        unknown = sorted(set(text) - self.stoi.keys())
        if unknown:
            raise ValueError(f"characters not in the vocabulary: {''.join(unknown)!r}; the model only knows "
                             f"{self.vocab_size} characters (see tokenizer.chars), so remove or replace these")
        return [self.stoi[c] for c in text]

    def decode(self, ids: list[int] | torch.Tensor) -> str:
        """Ids to text."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"ids {bad[:5]} are outside the vocabulary 0..{self.vocab_size - 1}; decode ids made by "
                             "this tokenizer or by a model with its vocab_size (a model with a larger vocabulary "
                             "needs its own tokenizer)")
        return "".join(self.chars[i] for i in ids)
