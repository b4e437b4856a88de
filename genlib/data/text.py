"""Tiny Shakespeare: the whole text, and nanoGPT's split (first 90% train, last 10% validation)."""
from __future__ import annotations

from genlib.data.files import bundled_path


def load_shakespeare() -> str:
    """The full Tiny Shakespeare text (1,115,394 characters, 65 distinct)."""
    return bundled_path("tinyshakespeare").read_text(encoding="utf-8")


def shakespeare_splits(train_fraction: float = 0.9) -> tuple[str, str]:
    """(train, val) text: the first `train_fraction` of the characters and the rest, as nanoGPT splits it."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    text = load_shakespeare()
    n = int(len(text) * train_fraction)
    return text[:n], text[n:]
