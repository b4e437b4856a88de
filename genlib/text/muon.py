"""Muon: momentum, then replace each weight matrix's update by its nearest orthogonal matrix (Newton-Schulz).

The same algorithm as torch.optim.Muon (Keller Jordan's), written out and run in float32: torch's version
orthogonalizes in bfloat16, which is several times slower on CPUs without bfloat16 units.
"""
from __future__ import annotations

import math
from typing import Iterable

import torch

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # quintic iteration tuned for a steep slope at zero


def orthogonalize(g: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    """Approximately U V^T for g = U S V^T: every singular value pushed towards 1 (to about 0.7-1.2)."""
    if g.dim() != 2:
        raise ValueError(f"orthogonalize needs a matrix, got shape {tuple(g.shape)}")
    a, b, c = NS_COEFFICIENTS
    x = g.float()
    tall = x.shape[0] > x.shape[1]
    x = x.T if tall else x
    x = x / (x.norm() + eps)  # spectral norm <= Frobenius norm <= 1, inside the iteration's range
    for _ in range(steps):
        s = x @ x.T
        x = a * x + (b * s + c * s @ s) @ x
    return (x.T if tall else x).to(g.dtype)


class Muon(torch.optim.Optimizer):
    """Muon for 2-D weights. The learning rate is scaled by 0.2·sqrt(max(rows, cols)) so that the update's
    size matches AdamW's (torch's adjust_lr_fn='match_rms_adamw'): the same lr works for both."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-3, weight_decay: float = 0.1,
                 momentum: float = 0.95, nesterov: bool = True, ns_steps: int = 5):
        if lr <= 0 or not 0 <= momentum < 1:
            raise ValueError(f"need lr > 0 and 0 <= momentum < 1, got lr={lr}, momentum={momentum}")
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                                      ns_steps=ns_steps))
        for group in self.param_groups:
            for p in group["params"]:
                if p.dim() != 2:
                    raise ValueError(f"Muon only takes 2-D weight matrices, got a parameter of shape "
                                     f"{tuple(p.shape)}; give embeddings' neighbours, norms and biases to AdamW")

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                buf = state.setdefault("momentum", torch.zeros_like(p))
                buf.lerp_(p.grad, 1 - group["momentum"])
                update = p.grad.lerp(buf, group["momentum"]) if group["nesterov"] else buf
                update = orthogonalize(update, group["ns_steps"])
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(update, alpha=-group["lr"] * 0.2 * math.sqrt(max(p.shape)))
