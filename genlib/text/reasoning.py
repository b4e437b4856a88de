"""Notebook 09's arithmetic model: one small GPT config, trained on a token budget in any of the three formats of
genlib.data.arithmetic (direct answer, scratchpad, calculator call), and its accuracy by number of digits.

The formats are compared at equal training tokens, not equal problems: a scratchpad costs tokens, and the
question is whether writing the steps buys more than seeing more problems would.
"""
from __future__ import annotations

import random

import torch
from torch import nn

from genlib.data import arithmetic as ar
from genlib.text.align import sft_loss
from genlib.text.calculator import generate_with_calculator
from genlib.text.decoding import generate
from genlib.text.gpt import GPT, GPTConfig
from genlib.train import History, cosine_lr, train

CONFIG = GPTConfig(vocab_size=len(ar.VOCAB) + 1, block_size=128, n_layer=4, n_head=4, n_embd=128, pos="rope",
                   norm="rms")
TRAIN_DIGITS = 5        # problems in training have 1..5 digits; longer ones test length generalisation
TOKENS_PER_STEP = 2048  # tokens the model predicts from, per optimizer step, in every format
LR = 3e-3


def new_model(seed: int = 0) -> GPT:
    """The arithmetic GPT (4 layers, 128 wide, RoPE, about 0.8M parameters), freshly initialised."""
    torch.manual_seed(seed)
    return GPT(CONFIG)


def train_format(model: nn.Module, fmt: str, tokens: int, seed: int = 0, lr: float = LR,
                 tokens_per_step: int = TOKENS_PER_STEP, max_digits: int = TRAIN_DIGITS, mul_share: float = 0.5,
                 progress: bool = True) -> History:
    """Train on `tokens` tokens of problems written in format `fmt` (AdamW, warm-up then cosine), loss on the
    tokens the model must write. Returns the loss history; the step count is tokens // tokens_per_step."""
    if fmt not in ar.FORMATS:
        raise ValueError(f"format must be one of {ar.FORMATS}, got {fmt!r}")
    steps = tokens // tokens_per_step
    if steps < 1:
        raise ValueError(f"tokens={tokens} is less than one step of {tokens_per_step} tokens")
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    return train(model, lambda m, b: sft_loss(m, *b),
                 lambda: ar.batch(rng, fmt, tokens_per_step, max_digits, mul_share), steps=steps, optimizer=optimizer,
                 lr_schedule=lambda p: cosine_lr(p, warmup=0.05), grad_clip=1.0, progress=progress, desc=fmt)


def held_out_problems(digits: int, op: str = "+", n: int = 100, seed: int = 0) -> list[ar.Problem]:
    """`n` held-out problems with `digits` digits (never seen in training), the same for every model."""
    rng = random.Random(f"{seed}:{digits}:{op}")
    return [ar.make_problem(rng, digits, op, "test") for _ in range(n)]


@torch.no_grad()
def solve(model: nn.Module, problems: list[ar.Problem], fmt: str) -> list[str]:
    """The model's greedy solutions (the text after each question), decoded as one batch per problem shape (the
    tool format through the calculator loop, which inserts each call's result)."""
    out: list[str | None] = [None] * len(problems)
    groups: dict[tuple[str, int, int], list[int]] = {}  # same operator and sizes: same question length
    for i, p in enumerate(problems):
        groups.setdefault((p.op, len(str(p.a)), len(str(p.b))), []).append(i)
    device = next(model.parameters()).device
    for (op, da, db), rows in groups.items():
        length = len(problems[rows[0]].question)
        longest = ar.Problem(10 ** da - 1, op, 10 ** db - 1)  # the longest solution a problem of this shape has
        budget = min(len(ar.solution(longest, fmt)) + 4, model.config.block_size - length)
        if fmt == "tool":
            texts = [t for t, _ in generate_with_calculator(model, [problems[i].question for i in rows], ar.encode,
                                                            ar.decode, max_new_tokens=budget)]
        else:
            prompts = torch.tensor([ar.encode(problems[i].question) for i in rows], device=device)
            ids = generate(model, prompts, budget, temperature=0, eos_id=ar.STOI[ar.END])
            texts = [ar.decode(row) for row in ids[:, length:].tolist()]
        for i, text in zip(rows, texts):
            out[i] = text
    return out


def accuracy(model: nn.Module, fmt: str, digits: int, op: str = "+", n: int = 100, seed: int = 0) -> float:
    """Share of `n` held-out `digits`-digit problems whose final answer is exactly right."""
    problems = held_out_problems(digits, op, n, seed)
    answers = [ar.read_answer(text) for text in solve(model, problems, fmt)]
    return sum(a == p.answer for a, p in zip(answers, problems)) / len(problems)
