"""A small diffusion transformer (DiT, Peebles & Xie 2023): the U-Net's job done by a plain transformer on patches.

The image is cut into patch x patch squares, each a token (a strided convolution: "patchify"); fixed 2-D sine
positions are added; transformer blocks mix the tokens; a linear layer turns each token back into its patch. The
timestep (and class, if any) steers every block through **adaLN-Zero**: a small network maps the condition to a
shift, a scale and a gate for each half of the block, with the gates starting at zero, so every block starts as
the identity (the same idea as the U-Net's zero-initialised convolutions). Stable Diffusion 3 and FLUX are DiTs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlib.image.shapes import check_image_shape
from genlib.image.unet import timestep_embedding

Tensor = torch.Tensor


@dataclass
class DiTConfig:
    """Sizes of the DiT; the defaults give about 0.5M parameters, like the default U-Net."""
    in_channels: int = 1
    image_size: int = 28
    patch_size: int = 2
    width: int = 96
    depth: int = 3
    heads: int = 4
    num_classes: int = 0  # > 0: class-conditional, label num_classes = "no label"

    def to_dict(self) -> dict:
        return asdict(self)


def sincos_positions(grid: int, dim: int) -> Tensor:
    """Fixed 2-D sine-cosine position features [grid * grid, dim]: half of dim for the row, half for the column."""
    if dim % 4:
        raise ValueError(f"the width must be divisible by 4 for 2-D sine positions, got {dim}")
    pos = torch.arange(grid, dtype=torch.float32)
    rows, cols = torch.meshgrid(pos, pos, indexing="ij")
    return torch.cat([timestep_embedding(rows.flatten(), dim // 2), timestep_embedding(cols.flatten(), dim // 2)], 1)


def unpatchify(tokens: Tensor, patch: int, channels: int) -> Tensor:
    """Tokens [N, g*g, channels*patch*patch] (F.unfold's order within a patch) back to images [N, C, g*p, g*p]."""
    n, length, _ = tokens.shape
    g = int(round(length ** 0.5))
    h = tokens.reshape(n, g, g, channels, patch, patch).permute(0, 3, 1, 4, 2, 5)
    return h.reshape(n, channels, g * patch, g * patch)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN: a LayerNorm'd x [N, L, D] shifted and scaled per item by the condition."""
    return x * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    """Attention and MLP, each after a condition-modulated LayerNorm, each added back through a gate (zero at start)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(approximate="tanh"), nn.Linear(4 * width, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c).chunk(6, dim=1)
        n, length, d = x.shape
        q, k, v = self.qkv(modulate(self.norm1(x), shift1, scale1)).reshape(n, length, 3, self.heads, -1).permute(
            2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, length, d)
        x = x + gate1[:, None] * self.proj(attn)
        return x + gate2[:, None] * self.mlp(modulate(self.norm2(x), shift2, scale2))


class DiT(nn.Module):
    """A noise (or velocity) predictor model(x, t, labels=None) with the U-Net's interface, built from transformer
    blocks over patches."""

    def __init__(self, config: DiTConfig | dict | None = None, **overrides):
        super().__init__()
        cfg = DiTConfig(**config) if isinstance(config, dict) else config or DiTConfig()
        if overrides:
            cfg = DiTConfig(**{**asdict(cfg), **overrides})
        if cfg.image_size % cfg.patch_size:
            raise ValueError(f"image_size ({cfg.image_size}) must be divisible by patch_size ({cfg.patch_size})")
        if cfg.width % cfg.heads:
            raise ValueError(f"width ({cfg.width}) must be divisible by heads ({cfg.heads})")
        self.config = cfg
        d, p = cfg.width, cfg.patch_size
        self.grid = cfg.image_size // p
        self.patchify = nn.Conv2d(cfg.in_channels, d, p, stride=p)
        self.register_buffer("pos", sincos_positions(self.grid, d), persistent=False)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        if cfg.num_classes:
            self.label_emb = nn.Embedding(cfg.num_classes + 1, d)
        self.blocks = nn.ModuleList(DiTBlock(d, cfg.heads) for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.out = nn.Linear(d, p * p * cfg.in_channels)
        for layer in (self.ada_out[1], self.out):  # the prediction starts at zero, as in the paper
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor, t: int | float | Tensor, cond: Tensor | None = None) -> Tensor:
        cfg = self.config
        check_image_shape(x, "x", channels=cfg.in_channels, size=(cfg.image_size, cfg.image_size))
        t = torch.as_tensor(t, device=x.device)
        t = t.expand(x.shape[0]) if t.dim() == 0 else t
        c = self.time_mlp(timestep_embedding(t, cfg.width))
        if cfg.num_classes:
            y = torch.full((len(x),), cfg.num_classes, device=x.device) if cond is None else cond.long()
            c = c + self.label_emb(y)
        elif cond is not None:
            raise ValueError("this DiT is unconditional (num_classes=0) but got labels")
        h = self.patchify(x).flatten(2).transpose(1, 2) + self.pos        # [N, tokens, width]
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.ada_out(c).chunk(2, dim=1)
        return unpatchify(self.out(modulate(self.norm_out(h), shift, scale)), cfg.patch_size, cfg.in_channels)
