"""A denoiser for vectors instead of images: the 2-D toys of notebook 19 and the 16-number latents of notebook 17.

A residual MLP that hears the timestep through the same sinusoidal embedding as the U-Net, added to its hidden
features. It has the denoisers' interface, model(x, t) with one t per row (diffusion timesteps, or flow time
through genlib.diffusion.flow.TimeScaled), so the course's losses and samplers work on it unchanged.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genlib.image.unet import timestep_embedding

Tensor = torch.Tensor


class VectorDenoiser(nn.Module):
    """eps (or velocity) for vectors [N, dim] at timesteps t [N]: `depth` residual blocks of width `hidden`."""

    def __init__(self, dim: int, hidden: int = 256, depth: int = 3, time_dim: int = 64):
        super().__init__()
        if dim < 1 or hidden < 1 or depth < 1:
            raise ValueError(f"dim, hidden and depth must be >= 1, got {dim}, {hidden}, {depth}")
        self.dim, self.time_dim = dim, time_dim
        self.inp = nn.Linear(dim, hidden)
        self.time = nn.Sequential(nn.Linear(time_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, 2 * hidden), nn.SiLU(),
                                                  nn.Linear(2 * hidden, hidden)) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, dim))

    def forward(self, x: Tensor, t: int | float | Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must be vectors [N, {self.dim}], got shape {tuple(x.shape)}")
        t = torch.as_tensor(t, device=x.device)
        t = t.expand(len(x)) if t.dim() == 0 else t
        h = self.inp(x) + self.time(timestep_embedding(t, self.time_dim))
        for block in self.blocks:
            h = h + block(h)
        return self.out(F.silu(h))
