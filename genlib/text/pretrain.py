"""Pre-training a language model on a token stream, for a number of steps or a wall-clock budget.

A `Recipe` holds every training choice (batch, context, optimizer, schedule), so a benchmark can change one
at a time. The learning-rate schedule runs over the *fraction of the budget used*, so a time-limited run
finishes its decay exactly at the deadline.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from genlib import distributed
from genlib.text.gpt import GPTConfig
from genlib.text.lm import next_token_loss, random_batch
from genlib.text.moe import moe_aux_loss
from genlib.text.muon import Muon
from genlib.train import History, cosine_lr, train


@dataclass
class Recipe:
    batch_size: int = 12
    block_size: int = 64
    lr: float = 1e-3                 # AdamW learning rate (embeddings, norms, and every weight with 'adamw')
    min_lr_ratio: float = 0.1        # the schedule ends at lr * min_lr_ratio
    warmup: float = 0.05             # fraction of the budget spent warming up linearly
    schedule: str = "cosine"         # 'cosine' decay, or 'wsd' (warm-up, stable, then linear decay in the last `cooldown`)
    cooldown: float = 0.4
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float | None = 1.0
    optimizer: str = "adamw"         # 'adamw', or 'muon' for the 2-D weight matrices inside the blocks
    muon_lr: float = 1e-3            # Muon's rate, on AdamW's scale (see genlib.text.muon)
    bf16: bool = False               # run the forward pass under bfloat16 autocast (weights and optimizer stay fp32)

    def __post_init__(self):
        if self.schedule not in ("cosine", "wsd"):
            raise ValueError(f"schedule must be 'cosine' or 'wsd', got {self.schedule!r}")
        if self.optimizer not in ("adamw", "muon"):
            raise ValueError(f"optimizer must be 'adamw' or 'muon', got {self.optimizer!r}")


def lr_multiplier(progress: float, recipe: Recipe) -> float:
    """Learning-rate multiplier at `progress` in [0, 1] of the budget: warm-up, then cosine or stable-then-linear."""
    if recipe.schedule == "cosine" or progress < recipe.warmup:
        return cosine_lr(progress, recipe.warmup, recipe.min_lr_ratio)
    lo, start = recipe.min_lr_ratio, 1 - recipe.cooldown
    if progress < start:
        return 1.0
    return lo + (1 - lo) * max(0.0, 1 - (progress - start) / recipe.cooldown)


def make_optimizers(model: nn.Module, recipe: Recipe) -> list[torch.optim.Optimizer]:
    """AdamW as nanoGPT (decay on matrices, none on norms/biases); with 'muon', Muon takes the block matrices."""
    model = distributed.unwrap(model)  # parameter names without DDP's 'module.' prefix
    matrices = {n: p for n, p in model.named_parameters() if p.dim() == 2 and p.requires_grad}
    others = [p for n, p in model.named_parameters() if p.requires_grad and n not in matrices]
    if recipe.optimizer == "muon":  # Muon orthogonalizes the update of hidden matrices; embeddings stay on AdamW
        # a mixture of experts' router is a tiny [n_expert, C] map from features to choices: AdamW keeps it
        hidden = [p for n, p in matrices.items() if n.startswith("blocks.") and ".router." not in n]
        rest = [p for n, p in matrices.items() if not (n.startswith("blocks.") and ".router." not in n)]
        adam = torch.optim.AdamW([{"params": rest, "weight_decay": recipe.weight_decay},
                                  {"params": others, "weight_decay": 0.0}], lr=recipe.lr, betas=recipe.betas)
        muon = Muon(hidden, lr=recipe.muon_lr, weight_decay=recipe.weight_decay)
        return [adam, muon]
    return [torch.optim.AdamW([{"params": list(matrices.values()), "weight_decay": recipe.weight_decay},
                               {"params": others, "weight_decay": 0.0}], lr=recipe.lr, betas=recipe.betas)]


def pretrain(model: nn.Module, data: torch.Tensor, recipe: Recipe, *, steps: int | None = None,
             seconds: float | None = None, eval_fn: Callable[[nn.Module], dict] | None = None,
             eval_every: int = 0, seed: int = 0, progress: bool = True, device: torch.device | str = "cpu",
             state_path: str | Path | None = None, aux_loss_weight: float = 0.0,
             desc: str = "pre-training") -> History:
    """Train `model` (idx -> logits) on random windows of `data` until `steps` or `seconds` runs out.

    The recipe on top of `genlib.train.train`: its optimizers (`make_optimizers`), its batches, the next-token
    loss and `lr_multiplier` over the share of the budget used. `eval_fn(model)` runs every `eval_every` steps
    and at the end; `state_path` makes a long run resumable. A mixture-of-experts model adds `aux_loss_weight`
    times its load-balancing loss (genlib.text.moe; Switch uses 0.01, 0 lets the router collapse). Under torchrun (a model wrapped by
    `genlib.distributed.wrap`) each rank draws its own batches, so the batch is world_size * recipe.batch_size.
    """
    g = torch.Generator().manual_seed(distributed.rank_seed(seed))

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        x, y = random_batch(data, recipe.block_size, recipe.batch_size, g)
        return x.to(device), y.to(device)

    device_type = torch.device(device).type

    def loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=recipe.bf16):
            value = next_token_loss(model, batch).float()
        return value + aux_loss_weight * moe_aux_loss(model) if aux_loss_weight else value

    return train(model, loss, batch, steps=steps, seconds=seconds, optimizer=make_optimizers(model, recipe),
                 lr_schedule=lambda p: lr_multiplier(p, recipe), grad_clip=recipe.grad_clip, eval_fn=eval_fn,
                 eval_every=eval_every or None, state_path=state_path, rng=g, progress=progress, desc=desc)


# nanoGPT's published CPU recipe for shakespeare_char (its README): the baseline every change is measured against.
NANOGPT_CPU_MODEL = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False)
NANOGPT_CPU_RECIPE = Recipe(batch_size=12, block_size=64, lr=1e-3, min_lr_ratio=0.1, warmup=100 / 2000,
                            schedule="cosine", weight_decay=0.1, betas=(0.9, 0.99), grad_clip=1.0)
NANOGPT_CPU_STEPS = 2000


def recipe_ablation() -> list[tuple[str, GPTConfig, Recipe]]:
    """From nanoGPT's CPU recipe to this course's, one change per line (each line keeps the changes above it)."""
    m, r = NANOGPT_CPU_MODEL, NANOGPT_CPU_RECIPE
    lines = [("nanoGPT recipe", m, r)]
    r = replace(r, lr=3e-3)
    lines.append(("+ learning rate 3e-3", m, r))
    m = replace(m, pos="rope", norm="rms")
    lines.append(("+ RoPE and RMSNorm (LLaMA-style)", m, r))
    r = replace(r, batch_size=32)
    lines.append(("+ batch 32", m, r))
    r = replace(r, schedule="wsd", cooldown=0.5, min_lr_ratio=0.0)
    lines.append(("+ warm-up / stable / decay to zero", m, r))
    r = replace(r, optimizer="muon", muon_lr=1e-2)
    lines.append(("+ Muon (lr 1e-2) for the block matrices", m, r))
    return lines


def project_recipe() -> tuple[GPTConfig, Recipe]:
    """This course's recipe at the benchmark's size: the last line of `recipe_ablation()`."""
    _, m, r = recipe_ablation()[-1]
    return m, r
