"""One training loop for the whole course: batches in, loss down, on a budget of steps or seconds.

Every trainer uses it: the notebooks, `genlib.text.pretrain` (a GPT recipe on top), the GAN's two-player step
and the scripts that make the shipped checkpoints. The learning-rate schedule runs over *progress*, the share
of the budget used, so a time-limited run ends its decay exactly at the deadline. Long runs can save their
whole state every few minutes and resume after a crash. Under torchrun it trains data-parallel (genlib.distributed).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn
from genlib import distributed
from genlib.checkpoints import _atomic_write, save_weights
from genlib.progress import progress as progress_bar, static_progress


@dataclass
class History:
    """What happened during training: the loss at every step and the eval results at eval steps."""
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    logs: dict[str, list[float]] = field(default_factory=dict)  # other per-step numbers a step_fn returns
    seconds: float = 0.0  # wall time of the training (summed over resumed parts)

    def eval_series(self, key: str) -> list[float]:
        """One metric's values at the eval steps, e.g. history.eval_series('val_loss')."""
        return [e[key] for e in self.evals]


class EMA:
    """A shadow copy of a model whose weights follow the trained ones slowly: w_ema <- d w_ema + (1 - d) w.

    The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates, so early weights are soon forgotten.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0 < decay < 1:
            raise ValueError(f"decay must lie in (0, 1), e.g. 0.999, got {decay}")
        self.decay, self.updates = decay, 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the shadow weights one step towards `model`'s (call after each optimizer step)."""
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for ema_p, p in zip(self.model.state_dict().values(), model.state_dict().values()):
            if ema_p.is_floating_point():
                ema_p.lerp_(p.detach(), 1 - d)
            else:
                ema_p.copy_(p)
        self.updates += 1


def cosine_lr(progress: float, warmup: float = 0.0, min_ratio: float = 0.1) -> float:
    """Learning-rate multiplier at `progress` in [0, 1] of the budget: linear warm-up over the first `warmup`
    share, then a cosine decay to `min_ratio` at the end (the schedule GPT-style training uses)."""
    if not 0 <= warmup < 1:
        raise ValueError(f"warmup is a share of the budget in [0, 1), got {warmup}")
    if progress < warmup:
        return max(progress / warmup, 1e-3)
    p = min(1.0, (progress - warmup) / (1 - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * p))


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


def _as_list(optimizer: torch.optim.Optimizer | list | None, model: nn.Module, lr: float) -> list:
    if optimizer is None:
        return [torch.optim.AdamW(model.parameters(), lr=lr)]
    return list(optimizer) if isinstance(optimizer, (list, tuple)) else [optimizer]


def _save_state(path: Path, model, optimizers, ema, history, first, step, seconds, rng) -> None:
    # every rank's random state (each draws its own batches); rank 0 writes the file
    rngs = distributed.gather_objects((None if rng is None else rng.get_state(), torch.get_rng_state()))
    if not distributed.is_main():
        return
    state = {"first": first, "model": model.state_dict(), "optimizers": [o.state_dict() for o in optimizers],
             "ema": None if ema is None else (ema.model.state_dict(), ema.updates), "history": asdict(history),
             "step": step, "seconds": seconds, "rng": rngs[0][0], "torch_rng": rngs[0][1], "ranks": len(rngs),
             "rank_rngs": rngs[1:]}
    _atomic_write(path, lambda tmp: torch.save(state, tmp))


def _load_state(path: Path, model, optimizers, ema, rng) -> tuple[History, int, int, float]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        for o, s in zip(optimizers, state["optimizers"], strict=True):
            o.load_state_dict(s)
    except Exception as e:
        raise RuntimeError(f"cannot resume from {path} ({type(e).__name__}: {e}); it was saved by a different "
                           "model or optimizer. Delete the file to start afresh.") from None
    ranks, world = state.get("ranks", 1), distributed.world_size()
    if ranks != world:
        raise RuntimeError(f"cannot resume from {path}: it was saved by {ranks} process(es) and this run has {world}; "
                           f"resume with `torchrun --nproc_per_node={ranks}` (plain python for 1), or delete the file "
                           "to start afresh")
    if ema is not None and state["ema"] is not None:
        ema.model.load_state_dict(state["ema"][0])
        ema.updates = state["ema"][1]
    rank = distributed.rank()
    rng_state, torch_rng = (state["rng"], state["torch_rng"]) if rank == 0 else state["rank_rngs"][rank - 1]
    if rng is not None and rng_state is not None:
        rng.set_state(rng_state)
    torch.set_rng_state(torch_rng)
    return History(**state["history"]), state["first"], state["step"], state["seconds"]


def train(model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor] | None,
          batches: Iterable | Callable[[], Any], *, steps: int | None = None, seconds: float | None = None,
          optimizer: torch.optim.Optimizer | list[torch.optim.Optimizer] | None = None, lr: float = 1e-3,
          lr_schedule: Callable[[float], float] | None = None, grad_clip: float | None = None,
          step_fn: Callable[[nn.Module, Any], dict[str, float]] | None = None, ema: EMA | None = None,
          eval_fn: Callable[[nn.Module], dict[str, float]] | None = None, eval_every: int | None = None,
          checkpoint: str | Path | None = None, state_path: str | Path | None = None, state_every: float = 300.0,
          rng: torch.Generator | None = None, progress: bool = True, history: History | None = None,
          desc: str = "training") -> History:
    """Train `model` until `steps` optimizer steps or `seconds` of wall time run out (whichever comes first).

    - `loss_fn(model, batch)` returns the scalar loss; the default step backpropagates it, clips gradients to
      `grad_clip` and steps every optimizer (AdamW at `lr` if none is given; a list such as AdamW + Muon works).
    - `step_fn(model, batch) -> {"loss": ..., ...}` replaces that default step (a GAN's two-player round):
      it does its own updates; `optimizer` then only tells the loop whose learning rates to schedule and save.
    - `lr_schedule(progress)` multiplies each base learning rate; progress = max(step / steps, time / seconds).
    - `ema` is updated after every step; `eval_fn(model)` runs every `eval_every` steps and at the end, in eval
      mode without gradients; `checkpoint` saves the final weights atomically.
    - `state_path`: save everything (weights, optimizers, EMA, history, `rng`'s state) every `state_every`
      seconds, and resume from it if it exists; it is deleted when the run completes.
    - Pass `history` to continue a curve across calls.
    - Under torchrun, pass the model wrapped by `genlib.distributed.wrap` and give each rank its own batches: the
      gradients are averaged over the ranks, every rank logs the mean loss and stops at the same step (the first
      clock to run out decides), the EMA and `eval_fn` see the unwrapped model, and only rank 0 writes files.
    """
    if steps is None and seconds is None:
        raise ValueError("give a budget: steps=..., seconds=..., or both")
    if (steps is not None and steps < 1) or (seconds is not None and seconds <= 0):
        raise ValueError(f"the budget must be positive: steps must be >= 1 and seconds > 0, got steps={steps}, "
                         f"seconds={seconds}")
    if (loss_fn is None) == (step_fn is None):
        raise ValueError("give exactly one of loss_fn (the usual update) or step_fn (a custom update)")
    net, main = distributed.unwrap(model), distributed.is_main()  # the plain module: saved, evaluated, averaged
    optimizers = _as_list(optimizer, model, lr)
    bases = [[g["lr"] for g in o.param_groups] for o in optimizers]
    history = history or History()
    first = history.steps[-1] + 1 if history.steps else 0
    step, done_seconds = 0, 0.0
    state_path = Path(state_path) if state_path is not None else None
    if state_path is not None and state_path.exists():
        history, first, step, done_seconds = _load_state(state_path, net, optimizers, ema, rng)
        if main:
            print(f"resumed from {state_path} at step {step} ({done_seconds:.0f} s done)", flush=True)
    params = [p for p in model.parameters() if p.requires_grad]
    data = _batches(batches)

    def default_step(model: nn.Module, batch: Any) -> dict[str, float]:
        """The usual update: loss, backward, optional gradient clipping, every optimizer steps."""
        loss = loss_fn(model, batch)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            got = f"shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise ValueError(f"loss_fn must return one number, a scalar tensor that backward() can start from; got "
                             f"{got}: average per-item losses with .mean(), and return the tensor, not .item()")
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {first + step}: lower the learning rate "
                                     "or clip gradients (grad_clip=1.0)")
        for o in optimizers:
            o.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(params, grad_clip)
        for o in optimizers:
            o.step()
        return {"loss": loss.item()}

    def run_eval(at: int) -> None:
        net.eval()
        with torch.no_grad():
            history.evals.append({k: float(v) for k, v in eval_fn(net).items()})
        history.eval_steps.append(at)
        model.train()

    model.train()
    bar = progress_bar(total=steps if steps is not None else int(seconds), disable=not (progress and main),
                       desc=desc,
                       leave=static_progress(),  # a committed notebook keeps the final line; live bars vanish
               unit="step" if steps is not None else "s", initial=step if steps is not None else int(done_seconds))
    start, saved_at = time.perf_counter() - done_seconds, time.perf_counter()
    frac = 0.0 if step == 0 else max(step / steps if steps else 0.0, done_seconds / seconds if seconds else 0.0)
    while frac < 1.0:
        mult = lr_schedule(frac) if lr_schedule is not None else 1.0
        for o, base in zip(optimizers, bases):
            for group, b in zip(o.param_groups, base):
                group["lr"] = b * mult
        out = (step_fn or default_step)(model, next(data))
        out = {"loss": float(out)} if not isinstance(out, dict) else out
        if ema is not None:
            ema.update(net)
        loss = float(out["loss"])
        history.steps.append(first + step)
        history.lr.append(optimizers[0].param_groups[0]["lr"])
        for k, v in out.items():
            if k != "loss":
                history.logs.setdefault(k, []).append(float(v))
        step += 1
        elapsed = time.perf_counter() - start
        frac = max(step / steps if steps else 0.0, elapsed / seconds if seconds else 0.0)
        save_now = state_path is not None and frac < 1.0 and time.perf_counter() - saved_at >= state_every
        if distributed.is_distributed():  # the mean loss over all ranks; stop and save when any rank says so
            rows = distributed.agree([loss, frac, float(save_now)])
            loss, frac, save_now = rows[:, 0].mean().item(), rows[:, 1].max().item(), bool(rows[:, 2].max())
        history.loss.append(loss)
        bar.update(1 if steps is not None else min(int(elapsed), int(seconds)) - bar.n)
        if eval_fn is not None and eval_every and step % eval_every == 0 and frac < 1.0:
            run_eval(first + step - 1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in history.evals[-1].items()})
        elif step % 10 == 1:
            bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
        if save_now:
            history.seconds = time.perf_counter() - start
            _save_state(state_path, net, optimizers, ema, history, first, step, history.seconds, rng)
            saved_at = time.perf_counter()
    bar.close()
    history.seconds = time.perf_counter() - start
    if eval_fn is not None:
        run_eval(first + step - 1)
    model.eval()
    if checkpoint is not None and main:
        save_weights(net, checkpoint)
    if state_path is not None and main and state_path.exists():
        state_path.unlink()
    return history
