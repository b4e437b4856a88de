"""One small training loop for every notebook: batches in, loss down, a progress bar, evals and a checkpoint."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn
from tqdm.auto import tqdm

from genlib.checkpoints import save_weights


@dataclass
class History:
    """What happened during training: the loss at every step and the eval results at eval steps."""
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the run, where the loop measures it (genlib.text.pretrain does)

    def eval_series(self, key: str) -> list[float]:
        """One metric's values at the eval steps, e.g. history.eval_series('val_loss')."""
        return [e[key] for e in self.evals]


def _batches(source: Iterable | Callable[[], Any]) -> Iterator:
    """Endless batches from a callable (called each step) or an iterable such as a DataLoader (restarted when done)."""
    if callable(source) and not hasattr(source, "__iter__"):
        while True:
            yield source()
    while True:
        empty = True
        for batch in source:
            empty = False
            yield batch
        if empty:
            raise ValueError("the batch iterable is empty: check the data set and batch size")


def cosine_lr(step: int, total: int, warmup: int = 0, min_ratio: float = 0.1) -> float:
    """Learning-rate multiplier: linear warm-up, then cosine decay to `min_ratio` at `total` steps."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def train(model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor], batches: Iterable | Callable[[], Any],
          *, steps: int, optimizer: torch.optim.Optimizer | None = None, lr: float = 1e-3,
          lr_schedule: Callable[[int], float] | None = None, grad_clip: float | None = None,
          eval_fn: Callable[[nn.Module], dict[str, float]] | None = None, eval_every: int | None = None,
          checkpoint: str | Path | None = None, progress: bool = True, history: History | None = None) -> History:
    """Train `model` for `steps` optimizer steps; `loss_fn(model, batch)` returns the scalar loss to minimize.

    `lr_schedule(step)` multiplies the base learning rate; `eval_fn(model)` returns a dict of metrics, run
    every `eval_every` steps and at the end (in eval mode, without gradients); `checkpoint` saves the final
    weights atomically. Pass `history` to continue a curve across calls.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=lr)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    history = history or History()
    start = history.steps[-1] + 1 if history.steps else 0
    data = _batches(batches)

    def run_eval(step: int) -> None:
        model.eval()
        with torch.no_grad():
            history.evals.append({k: float(v) for k, v in eval_fn(model).items()})
        history.eval_steps.append(step)
        model.train()

    model.train()
    bar = tqdm(range(steps), disable=not progress, desc="training", leave=False)
    for i in bar:
        if lr_schedule is not None:
            for group, base in zip(optimizer.param_groups, base_lrs):
                group["lr"] = base * lr_schedule(i)
        loss = loss_fn(model, next(data))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {start + i}: lower the learning rate "
                                     "or clip gradients (grad_clip=1.0)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        history.steps.append(start + i)
        history.loss.append(loss.item())
        history.lr.append(optimizer.param_groups[0]["lr"])
        if eval_fn is not None and eval_every and (i + 1) % eval_every == 0 and i + 1 < steps:
            run_eval(start + i)
            bar.set_postfix({k: f"{v:.3f}" for k, v in history.evals[-1].items()})
        elif i % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    if eval_fn is not None:
        run_eval(start + steps - 1)
    model.eval()
    if checkpoint is not None:
        save_weights(model, checkpoint)
    return history
