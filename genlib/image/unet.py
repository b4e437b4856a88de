"""A small U-Net noise predictor eps(x_t, t) for diffusion on MNIST-sized images, small enough to train on a CPU.

The shape of Ho et al.'s (2020) DDPM U-Net, shrunk: a sinusoidal embedding of the timestep (int or fractional
float t, as the sigma samplers pass), residual blocks with GroupNorm whose features are shifted by the time
embedding, self-attention at the lowest resolution, and skip connections from each level of the way down to
the same level of the way up. To be cheap enough for a CPU it first folds each 2 x 2 block of pixels into 4
channels (`pixel_unshuffle`, the "patchify" of DiT and U-ViT) and unfolds the prediction at the end, so the
network itself works at 14 x 14 and 7 x 7 for MNIST: four times fewer positions than the pixels.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlib.image.shapes import check_image_shape

Tensor = torch.Tensor


@dataclass
class UNetConfig:
    """Sizes of the U-Net; the defaults give about 0.5M parameters (2 MB of float32 weights)."""
    in_channels: int = 1
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2)  # one level per entry; each level after the first halves H and W
    patch_size: int = 2  # fold patch x patch pixels into channels first (1 = work on the pixels themselves)
    groups: int = 8
    heads: int = 4
    time_dim: int = 128
    dropout: float = 0.0
    num_classes: int = 0  # > 0: a class-conditional U-Net (label num_classes is "no label", for guidance)
    context_dim: int = 0  # > 0: a text-conditional U-Net that cross-attends to tokens [N, L, context_dim]

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Sinusoidal features [N, dim] of (possibly fractional) timesteps t [N]: sin and cos at geometric frequencies.

    The same formula as a transformer's positions; smooth in t, so a float t between two training steps gets an
    embedding between theirs.
    """
    if dim % 2:
        raise ValueError(f"the embedding size must be even, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv, add the projected time embedding, GroupNorm -> SiLU -> conv, plus a shortcut."""

    def __init__(self, c_in: int, c_out: int, time_dim: int, groups: int, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(time_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(groups, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity: a stable start for deep stacks
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(temb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the H x W positions of a feature map, with a residual connection."""

    def __init__(self, channels: int, heads: int, groups: int):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        y = F.scaled_dot_product_attention(q, k, v)  # [n, heads, h*w, c/heads]
        return x + self.out(y.transpose(-1, -2).reshape(n, c, h, w))


class CrossAttention(nn.Module):
    """Each position of a feature map asks the text tokens what to draw there: queries from the pixels, keys and
    values from the context (Stable Diffusion's cross-attention), with a residual connection that starts at zero."""

    def __init__(self, channels: int, context_dim: int, heads: int, groups: int):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.kv = nn.Linear(context_dim, 2 * channels)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        n, c, h, w = x.shape
        q = self.q(self.norm(x)).reshape(n, self.heads, c // self.heads, h * w).transpose(-1, -2)
        k, v = self.kv(context).reshape(n, -1, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)  # [n, heads, h*w, c/heads]
        return x + self.out(y.transpose(-1, -2).reshape(n, c, h, w))


class UNet(nn.Module):
    """eps_theta(x_t, t): predicts the noise in a batch of noisy images [N, C, H, W] at timesteps t (int or float)."""

    def __init__(self, config: UNetConfig | None = None, **overrides):
        super().__init__()
        if isinstance(config, dict):
            config = UNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
        cfg = config or UNetConfig()
        if overrides:
            cfg = UNetConfig(**{**asdict(cfg), **overrides})
        self.config = cfg
        chans = [cfg.base_channels * m for m in cfg.channel_mults]
        td = cfg.time_dim
        self.time_mlp = nn.Sequential(nn.Linear(td, td), nn.SiLU(), nn.Linear(td, td))
        if cfg.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0 (0 = unconditional), got {cfg.num_classes}")
        if cfg.num_classes:  # one learned vector per class, plus one for "no label", added to the time embedding;
            self.label_emb = nn.Embedding(cfg.num_classes + 1, td)  # zero at first: the U-Net starts unconditional,
            nn.init.zeros_(self.label_emb.weight)                    # so it can start from an unconditional one's weights
        if cfg.patch_size < 1:
            raise ValueError(f"patch_size must be >= 1, got {cfg.patch_size}")
        c_pix = cfg.in_channels * cfg.patch_size ** 2  # channels after folding each patch into one position
        self.conv_in = nn.Conv2d(c_pix, chans[0], 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        c = chans[0]
        for i, ch in enumerate(chans):
            self.down.append(ResBlock(c, ch, td, cfg.groups, cfg.dropout))
            last = i == len(chans) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(ch, ch, 3, stride=2, padding=1))
            c = ch
        self.mid1 = ResBlock(c, c, td, cfg.groups, cfg.dropout)
        self.mid_attn = SelfAttention(c, cfg.heads, cfg.groups)
        if cfg.context_dim < 0:
            raise ValueError(f"context_dim must be >= 0 (0 = no text), got {cfg.context_dim}")
        if cfg.context_dim and cfg.num_classes:
            raise ValueError("a U-Net takes class labels (num_classes) or text (context_dim), not both")
        if cfg.context_dim:  # cross-attention after every block, and the mean text token added to the time embedding
            self.cross_down = nn.ModuleList(CrossAttention(ch, cfg.context_dim, cfg.heads, cfg.groups) for ch in chans)
            self.cross_mid = CrossAttention(c, cfg.context_dim, cfg.heads, cfg.groups)
            self.cross_up = nn.ModuleList(CrossAttention(ch, cfg.context_dim, cfg.heads, cfg.groups)
                                          for ch in reversed(chans))
            self.context_emb = nn.Linear(cfg.context_dim, td)
        self.mid2 = ResBlock(c, c, td, cfg.groups, cfg.dropout)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, ch in reversed(list(enumerate(chans))):
            self.up.append(ResBlock(c + ch, ch, td, cfg.groups, cfg.dropout))  # + the skip from the same level
            self.upsample.append(nn.Identity() if i == 0 else
                                 nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                               nn.Conv2d(ch, ch, 3, padding=1)))
            c = ch
        self.norm_out = nn.GroupNorm(cfg.groups, c)
        self.conv_out = nn.Conv2d(c, c_pix, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # predicts zero noise at the start
        nn.init.zeros_(self.conv_out.bias)

    def _check(self, x: Tensor, t: int | float | Tensor) -> Tensor:
        cfg = self.config
        k = cfg.patch_size * 2 ** (len(cfg.channel_mults) - 1)
        check_image_shape(x, "x", channels=cfg.in_channels, size=None, multiple=k)
        if not x.is_floating_point():
            raise ValueError(f"x must be float images scaled to [-1, 1], got dtype {x.dtype}; convert uint8 pixels "
                             "with x.float() / 127.5 - 1 (or x * 2 - 1 for floats in [0, 1])")
        t = torch.as_tensor(t, device=x.device)
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        if t.dim() != 1 or len(t) != x.shape[0]:
            raise ValueError(f"t must be one timestep or one per image ({x.shape[0]}), got shape {tuple(t.shape)}")
        if t.dtype == torch.bool or t.is_complex():
            raise ValueError(f"t must hold int or float timesteps, got dtype {t.dtype}")
        return t

    def _context(self, x: Tensor, context: Tensor | None) -> Tensor:
        d = self.config.context_dim
        if context is None:
            return x.new_zeros(x.shape[0], 1, d)  # no text: one token of zeros
        if context.dim() != 3 or context.shape[0] != x.shape[0] or context.shape[2] != d:
            raise ValueError(f"context must be text tokens [N={x.shape[0]}, L, {d}] (a text encoder's per-word "
                             f"outputs), got shape {tuple(context.shape)}")
        return context.to(x.dtype)

    def _labels(self, x: Tensor, y: Tensor | None) -> Tensor | None:
        k = self.config.num_classes
        if not k:
            if y is not None:
                raise ValueError("this U-Net is unconditional (num_classes=0) but got labels y: build it with "
                                 "UNet(num_classes=10) to condition on them, or call it without y")
            return None
        if y is None:
            return torch.full((x.shape[0],), k, device=x.device, dtype=torch.long)  # "no label"
        y = torch.as_tensor(y, device=x.device)
        if y.dim() != 1 or len(y) != x.shape[0] or y.is_floating_point() or y.dtype == torch.bool:
            raise ValueError(f"y must hold one integer label per image ({x.shape[0]}), got dtype {y.dtype} and "
                             f"shape {tuple(y.shape)}")
        if len(y) and (y.min() < 0 or y.max() > k):
            raise ValueError(f"labels must lie in 0..{k - 1}, or {k} for 'no label' (the unconditional model); "
                             f"got values from {int(y.min())} to {int(y.max())}")
        return y.long()

    def encode(self, x: Tensor, t: int | float | Tensor, cond: Tensor | None = None,
               hint: Tensor | None = None) -> tuple[Tensor, list[Tensor], Tensor, Tensor | None]:
        """The way down and the middle: (features, skips, time embedding, text) for decode. `hint` (features the
        size of conv_in's output) is added after conv_in: how a ControlNet's copy reads its edge map."""
        t = self._check(x, t)
        temb = self.time_mlp(timestep_embedding(t, self.config.time_dim))
        text = self._context(x, cond) if self.config.context_dim else None
        if text is None:
            y = self._labels(x, cond)
            if y is not None:
                temb = temb + self.label_emb(y)
        else:
            temb = temb + self.context_emb(text.mean(1))
        h = self.conv_in(F.pixel_unshuffle(x, self.config.patch_size))  # [N, C p^2, H/p, W/p]
        if hint is not None:
            h = h + hint
        skips = []
        for i, (block, down) in enumerate(zip(self.down, self.downsample)):
            h = block(h, temb)
            h = h if text is None else self.cross_down[i](h, text)
            skips.append(h)
            h = down(h)
        h = self.mid_attn(self.mid1(h, temb))
        h = self.mid2(h if text is None else self.cross_mid(h, text), temb)
        return h, skips, temb, text

    def decode(self, h: Tensor, skips: list[Tensor], temb: Tensor, text: Tensor | None) -> Tensor:
        """The way up, each level joined by its skip, to the prediction (the skips are consumed)."""
        skips = list(skips)
        for i, (block, up) in enumerate(zip(self.up, self.upsample)):
            h = block(torch.cat([h, skips.pop()], dim=1), temb)
            h = up(h if text is None else self.cross_up[i](h, text))
        return F.pixel_shuffle(self.conv_out(F.silu(self.norm_out(h))), self.config.patch_size)

    def forward(self, x: Tensor, t: int | float | Tensor, cond: Tensor | None = None) -> Tensor:
        """The prediction for x at t; a class-conditional U-Net also takes labels [N] (None = no label), a
        text-conditional one text tokens [N, L, context_dim] (None = no text)."""
        return self.decode(*self.encode(x, t, cond))


def count_parameters(model: nn.Module) -> int:
    """How many numbers the model learns."""
    return sum(p.numel() for p in model.parameters())
