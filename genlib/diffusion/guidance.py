"""Classifier-free guidance (Ho & Salimans 2022): one network learns both p(x | c) and p(x), because training
sometimes hides the condition c, and sampling pushes the conditional prediction away from the unconditional one.

With guidance scale w the prediction is u + w (c - u): w = 0 ignores the condition, w = 1 is the plain conditional
model, w > 1 exaggerates what the condition changes (Stable Diffusion's default is 7.5). The same formula works on
the noise, on v or on an EDM network's raw output, because each is an affine function of the others at fixed x and t.
A negative prompt is guidance away from another condition instead of away from "nothing": pass it as `null`.
"""
from __future__ import annotations

import math

import torch
from torch import nn

Tensor = torch.Tensor


def _null_like(cond: Tensor, null: int | Tensor) -> Tensor:
    """The "no condition" input, one per row of cond: a label index, or a tensor broadcast to cond's shape."""
    if isinstance(null, Tensor):
        return null.to(cond.device, cond.dtype).expand_as(cond)
    return torch.full_like(cond, null)


def drop_condition(cond: Tensor, null: int | Tensor, p: float, generator: torch.Generator | None = None) -> Tensor:
    """Training's condition dropout: each row of cond replaced by `null` with probability p (Ho & Salimans: 0.1-0.2)."""
    if not 0 <= p <= 1:
        raise ValueError(f"the drop probability p must lie in [0, 1], got {p}")
    drop = torch.rand(len(cond), generator=generator).to(cond.device) < p
    return torch.where(drop.reshape(-1, *[1] * (cond.dim() - 1)), _null_like(cond, null), cond)


class Conditioned(nn.Module):
    """A conditional network model(x, t, cond) with its condition bound: called as model(x, t), like any
    unconditional one, so the losses and samplers need not know about conditions."""

    def __init__(self, model: nn.Module, cond: Tensor):
        super().__init__()
        self.model, self.cond = model, cond

    def forward(self, x: Tensor, t: int | float | Tensor) -> Tensor:
        return self.model(x, t, self.cond)


class Guided(nn.Module):
    """u + scale (c - u), where c = model(x, t, cond) and u = model(x, t, null), in one batched call of 2N.

    scale 0 and 1 need one call of N (the unconditional and the conditional model themselves).
    """

    def __init__(self, model: nn.Module, cond: Tensor, null: int | Tensor, scale: float = 1.0):
        super().__init__()
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not math.isfinite(scale) or scale < 0:
            raise ValueError(f"the guidance scale must be a finite number >= 0 (0 = unconditional, 1 = conditional, "
                             f"> 1 = guided; try 1-5), got {scale!r}")
        self.model, self.cond, self.null, self.scale = model, cond, null, float(scale)

    def forward(self, x: Tensor, t: int | float | Tensor) -> Tensor:
        if len(self.cond) != len(x):
            raise ValueError(f"{len(self.cond)} conditions for a batch of {len(x)} images: give one per image")
        null = _null_like(self.cond, self.null)
        if self.scale == 1:
            return self.model(x, t, self.cond)
        if self.scale == 0:
            return self.model(x, t, null)
        t = torch.as_tensor(t, device=x.device)
        t = t.expand(len(x)) if t.dim() == 0 else t
        c, u = self.model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([self.cond, null])).chunk(2)
        return u + self.scale * (c - u)
