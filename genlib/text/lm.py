"""Language-model data and scoring shared by every text notebook: random blocks, fixed validation batches,
and one loss estimator, so an n-gram and a GPT are measured the same way (nats per character)."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F


def random_batch(data: torch.Tensor, block_size: int, batch_size: int,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`batch_size` random windows of `block_size` tokens (x) and the same windows shifted by one (y), as nanoGPT."""
    if len(data) <= block_size:
        raise ValueError(f"data has {len(data)} tokens, fewer than block_size + 1 = {block_size + 1}: train on more "
                         "text (an empty data set cannot be batched) or use a smaller block_size")
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    x = data[starts[:, None] + offsets]
    y = data[starts[:, None] + offsets + 1]
    return x, y


def fixed_batches(data: torch.Tensor, block_size: int, batch_size: int = 32, n_batches: int = 20,
                  seed: int = 1234) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The same validation windows every time (seeded), so two models are scored on identical text."""
    g = torch.Generator().manual_seed(seed)
    return [random_batch(data, block_size, batch_size, g) for _ in range(n_batches)]


@torch.no_grad()
def evaluate_loss(model: Callable[[torch.Tensor], torch.Tensor],
                  batches: list[tuple[torch.Tensor, torch.Tensor]], device: torch.device | str = "cpu") -> float:
    """Mean cross-entropy (nats per token) of `model(x) -> logits [B, T, V]` over the batches."""
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    total, count = 0.0, 0
    for x, y in batches:
        logits = model(x.to(device))
        total += F.cross_entropy(logits.flatten(0, 1).float(), y.to(device).flatten(), reduction="sum").item()
        count += y.numel()
    if was_training:
        model.train()
    return total / count


@torch.no_grad()
def loss_by_position(model: Callable[[torch.Tensor], torch.Tensor], data: torch.Tensor, length: int,
                     n_windows: int = 32, seed: int = 1234) -> torch.Tensor:
    """[length]: the mean cross-entropy at each position of `n_windows` seeded windows of `length` tokens.

    How a model's loss changes along its context: it falls as the model gets more text to go on, and (for a
    model read past the length it was trained on) rises where its positions leave the trained range.
    """
    if len(data) <= length:
        raise ValueError(f"data has {len(data)} tokens; windows of length {length} need at least {length + 1}")
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    x, y = random_batch(data, length, n_windows, torch.Generator().manual_seed(seed))
    logits = model(x)
    losses = F.cross_entropy(logits.transpose(1, 2).float(), y, reduction="none")  # [n_windows, length]
    if was_training:
        model.train()
    return losses.mean(0)


def perplexity(loss_nats: float) -> float:
    """exp(loss): the number of equally likely choices the model is, on average, torn between."""
    return math.exp(loss_nats)


def sequential_batches(data: torch.Tensor, block_size: int, batch_size: int = 32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Every token of `data` exactly once, in non-overlapping windows: the whole-split loss, not an estimate."""
    n = (len(data) - 1) // block_size
    if n < 1:
        raise ValueError(f"data has {len(data)} tokens, fewer than block_size + 1 = {block_size + 1}: score more "
                         "text or use a smaller block_size")
    x = data[: n * block_size].view(n, block_size)
    y = data[1: n * block_size + 1].view(n, block_size)
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, n, batch_size)]


def next_token_loss(model: Callable[[torch.Tensor], torch.Tensor], batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy of model(x) against the next tokens y: the loss_fn to hand genlib.train.train."""
    x, y = batch
    logits = model(x)
    if not logits.is_floating_point():
        raise TypeError(f"model(x) must return float logits [B, T, V], got dtype {logits.dtype}; "
                        "return logits.float() from the model (cross-entropy needs real-valued scores)")
    return F.cross_entropy(logits.flatten(0, 1), y.flatten())
