"""Arithmetic written three ways for notebook 09: the bare answer, a scratchpad of column steps, a calculator call.

The same question, `1234+5678=`, is answered
- `direct`:     `6912;`
- `scratchpad`: `4+8+0=12 3+7+1=11 2+6+1=09 1+5+0=06|6912;` (one column at a time, right to left, with its carry)
- `tool`:       `<calc>1234+5678</calc>6912;` (the digits after `</calc>` come from the calculator, not the model)

and multiplication by one digit the same way (`1234*7=`, columns `4*7+0=28 ...`). Everything is character
level over a fixed 22-symbol vocabulary, deterministic from a seed, and a fixed hash keeps a share of all
problems out of training, so test problems are never seen.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from genlib.data.tasks import _held_out

FORMATS = ("direct", "scratchpad", "tool")
OPS = ("+", "*")
VOCAB = list("0123456789+*=|; <>/cal")  # digits, the steps' symbols and the letters of the tool's tags
PAD = len(VOCAB)                           # one extra id for padding (never a target)
STOI = {c: i for i, c in enumerate(VOCAB)}
CALL, RESULT_END, END = "<calc>", "</calc>", ";"
HELD_OUT = 0.1  # share of (a, op, b) problems kept for testing


def encode(text: str) -> list[int]:
    """Character ids of `text`; an unknown character is a clear error, not a silent id."""
    bad = sorted(set(text) - set(STOI))
    if bad:
        raise ValueError(f"characters {bad} are not in the arithmetic vocabulary {''.join(VOCAB)!r}")
    return [STOI[c] for c in text]


def decode(ids: list[int]) -> str:
    """The text of character ids (padding is dropped)."""
    return "".join(VOCAB[i] for i in ids if i != PAD)


def is_held_out(a: int, op: str, b: int) -> bool:
    """True for the problems of the test split (a fixed hash, the same on every machine)."""
    return _held_out(f"{a}{op}{b}", HELD_OUT)


@dataclass
class Problem:
    a: int
    op: str
    b: int

    @property
    def question(self) -> str:
        return f"{self.a}{self.op}{self.b}="

    @property
    def answer(self) -> int:
        return self.a + self.b if self.op == "+" else self.a * self.b


def column_steps(problem: Problem) -> list[str]:
    """The scratchpad: one `x+y+carry=sum` (or `x*d+carry=product`) per column, right to left, two-digit results."""
    a_digits = [int(c) for c in str(problem.a)[::-1]]
    steps, carry = [], 0
    if problem.op == "+":
        b_digits = [int(c) for c in str(problem.b)[::-1]]
        for i in range(max(len(a_digits), len(b_digits))):
            x = a_digits[i] if i < len(a_digits) else 0
            y = b_digits[i] if i < len(b_digits) else 0
            s = x + y + carry
            steps.append(f"{x}+{y}+{carry}={s:02d}")
            carry = s // 10
    else:
        for x in a_digits:
            s = x * problem.b + carry
            steps.append(f"{x}*{problem.b}+{carry}={s:02d}")
            carry = s // 10
    return steps


def solution(problem: Problem, fmt: str) -> str:
    """What follows the question in format `fmt` (see the module docstring), ending with ';'."""
    if fmt == "direct":
        return f"{problem.answer}{END}"
    if fmt == "scratchpad":
        return " ".join(column_steps(problem)) + f"|{problem.answer}{END}"
    if fmt == "tool":
        return f"{CALL}{problem.a}{problem.op}{problem.b}{RESULT_END}{problem.answer}{END}"
    raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")


def make_problem(rng: random.Random, digits: int, op: str = "+", split: str = "train") -> Problem:
    """A problem of the split whose first operand has `digits` digits (the second as many for '+', one for '*')."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    if digits < 1:
        raise ValueError(f"digits must be >= 1, got {digits}")
    lo, hi = 10 ** (digits - 1) if digits > 1 else 0, 10 ** digits - 1
    for _ in range(1000):
        a = rng.randint(lo, hi)
        b = rng.randint(lo, hi) if op == "+" else rng.randint(2, 9)
        if is_held_out(a, op, b) == (split == "test"):
            return Problem(a, op, b)
    raise RuntimeError(f"no {split} problem with {digits} digits found")  # only for digits = 1, never in practice


def example(problem: Problem, fmt: str) -> tuple[list[int], list[int]]:
    """Token ids of question + solution, and a 0/1 loss mask: 1 on the solution tokens the model must write.

    In the tool format the calculator's result is 0 in the mask: the model is never trained to produce it.
    """
    q, s = problem.question, solution(problem, fmt)
    mask = [0] * len(q) + [1] * len(s)
    if fmt == "tool":
        start = len(q) + s.index(RESULT_END) + len(RESULT_END)
        for i in range(start, start + len(str(problem.answer))):
            mask[i] = 0
    return encode(q + s), mask


def batch(rng: random.Random, fmt: str, tokens: int, max_digits: int, mul_share: float = 0.5,
          split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """A padded batch (ids, mask) of problems with 1..max_digits digits and at least `tokens` tokens to predict.

    Counting tokens rather than problems keeps formats comparable: a scratchpad problem is several times longer
    than a direct one, so an equal-token batch holds fewer of them. The mask (1 on the tokens the model must
    write, 0 on the question, the calculator's result and the padding) is what `align.sft_loss` takes.
    """
    if tokens < 1 or max_digits < 1:
        raise ValueError(f"tokens and max_digits must be >= 1, got tokens={tokens}, max_digits={max_digits}")
    rows, total = [], 0
    while total < tokens:
        op = "*" if rng.random() < mul_share else "+"
        rows.append(example(make_problem(rng, rng.randint(1, max_digits), op, split), fmt))
        total += len(rows[-1][0]) - 1
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), PAD, dtype=torch.long)
    mask = torch.zeros(len(rows), width)
    for r, (row, row_mask) in enumerate(rows):
        ids[r, :len(row)] = torch.tensor(row)
        mask[r, :len(row)] = torch.tensor(row_mask, dtype=torch.float)
    return ids, mask


def read_answer(text: str) -> int | None:
    """The final answer in a model's solution: the digits before ';' (after '|' or '</calc>'); None if unreadable."""
    text = text.split(END, 1)[0]
    for sep in ("|", RESULT_END):
        if sep in text:
            text = text.rsplit(sep, 1)[1]
    return int(text) if text.isdigit() else None
