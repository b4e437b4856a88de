"""Notebook 10's code model: a BPE GPT trained on the Python standard library's own source, and the checks that
turn its samples into numbers (does it parse, does it compile).

The tokenizer is trained once by scripts/train_code.py and shipped beside the weights (checkpoints/code_bpe.json):
another Python version ships a slightly different standard library, and a tokenizer retrained on it would give
the model ids it never saw.
"""
from __future__ import annotations

import ast
import warnings

import torch
from torch import nn

from genlib.checkpoints import checkpoint_dir, load_checkpoint, read_manifest
from genlib.text.bpe import BPETokenizer
from genlib.text.decoding import generate
from genlib.text.gpt import GPT, GPTConfig

VOCAB_SIZE = 2048
TOKENIZER_CHARS = 3_000_000  # the tokenizer learns its merges from the first 3M characters of the training split
CONFIG = GPTConfig(vocab_size=VOCAB_SIZE, block_size=256, n_layer=4, n_head=4, n_embd=256, pos="rope", norm="rms")
CHECKPOINT, TOKENIZER_FILE = "code_gpt", "code_bpe.json"


def train_tokenizer(text: str) -> BPETokenizer:
    """Byte-level BPE with VOCAB_SIZE ids (GPT-2's split pattern keeps runs of indentation together)."""
    return BPETokenizer().train(text[:TOKENIZER_CHARS], VOCAB_SIZE)


def load_code_model(device: torch.device | str = "cpu") -> tuple[GPT, BPETokenizer]:
    """The shipped code GPT (hash checked) and its tokenizer; KeyError or FileNotFoundError if not shipped."""
    if CHECKPOINT not in read_manifest():
        raise KeyError(f"{CHECKPOINT!r} is not in checkpoints/manifest.json; train it with scripts/train_code.py")
    tok = BPETokenizer.load(checkpoint_dir() / TOKENIZER_FILE)
    model = GPT(CONFIG).to(device)
    load_checkpoint(CHECKPOINT, model)
    return model.eval(), tok


def first_function(text: str) -> tuple[str, bool]:
    """The text up to where a top-level function ends (the first later line that starts at column 0), and
    whether it did end there (False: the sample stopped inside the function)."""
    lines = text.split("\n")
    for i, line in enumerate(lines[1:], start=1):
        if line and not line[0].isspace() and not line.startswith(("#", ")", "]", "}")):
            return "\n".join(lines[:i]).rstrip() + "\n", True
    return text, False


def parses(source: str) -> bool:
    """True if `source` is syntactically valid Python (ast.parse); the parser's warnings about odd samples
    (e.g. `0x1for`) are silenced, since a sample is judged by the answer, not by its warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DeprecationWarning on Python 3.10, SyntaxWarning later
        try:
            ast.parse(source)
        except (SyntaxError, ValueError):
            return False
    return True


def compiles(source: str) -> bool:
    """True if `source` also compiles to bytecode (catches what the parser allows but the compiler does not,
    such as `return` outside a function or a repeated argument name)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DeprecationWarning on Python 3.10, SyntaxWarning later
        try:
            compile(source, "<sample>", "exec")
        except (SyntaxError, ValueError):
            return False
    return True


@torch.no_grad()
def sample_functions(model: nn.Module, tok: BPETokenizer, n: int, temperature: float, max_new_tokens: int = 200,
                     prompt: str = "\n\ndef ", seed: int = 0, top_p: float | None = None) -> list[tuple[str, bool]]:
    """`n` samples that start a top-level function, each cut where the function ends: (source, ended).

    top_p: nucleus sampling on top of the temperature (Codex sampled at T = 0.8 with top_p = 0.95)."""
    device = next(model.parameters()).device
    ids = torch.tensor(tok.encode(prompt), device=device).repeat(n, 1)
    g = torch.Generator(device=device).manual_seed(seed)
    out = generate(model, ids, max_new_tokens, temperature=temperature, top_p=top_p, generator=g)
    texts = [prompt.lstrip("\n") + tok.decode(row) for row in out[:, ids.shape[1]:].tolist()]
    return [first_function(t) for t in texts]
