"""ControlNet (Zhang et al. 2023): spatial control, such as an edge map, added to a trained, frozen denoiser.

A trainable copy of the U-Net's way down reads the noisy image plus the control image (through a small
convolutional hint encoder) and hands a correction to each skip connection and to the middle of the frozen U-Net,
each through a 1 x 1 convolution that starts at zero. At the start the corrections are exactly zero, so the
controlled model is the base model, and training cannot damage what the base model knows; it only learns to use
the hint.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from genlib.image.unet import UNet

Tensor = torch.Tensor


def zero_conv(channels: int) -> nn.Conv2d:
    """A 1 x 1 convolution whose weights and bias start at zero: its output is zero until training moves it."""
    conv = nn.Conv2d(channels, channels, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class ControlNet(nn.Module):
    """The trainable copy of `base`'s encoder, a hint encoder and the zero convolutions; the base is not stored."""

    def __init__(self, base: UNet, hint_channels: int = 1):
        super().__init__()
        cfg = base.config
        self.hint_channels, self.patch = hint_channels, cfg.patch_size
        self.copy = copy.deepcopy(base).requires_grad_(True)
        for name in ("up", "upsample", "norm_out", "conv_out", "cross_up"):  # the copy only goes down
            if hasattr(self.copy, name):
                delattr(self.copy, name)
        width = cfg.base_channels * cfg.channel_mults[0]
        p = cfg.patch_size
        self.hint = nn.Sequential(nn.Conv2d(hint_channels, 16, 3, padding=1), nn.SiLU(),
                                  nn.Conv2d(16, 32, 3, stride=p, padding=1) if p > 1 else nn.Conv2d(16, 32, 3, padding=1),
                                  nn.SiLU(), nn.Conv2d(32, width, 3, padding=1))
        nn.init.zeros_(self.hint[-1].weight)
        nn.init.zeros_(self.hint[-1].bias)
        chans = [cfg.base_channels * m for m in cfg.channel_mults]
        self.zero_skips = nn.ModuleList(zero_conv(c) for c in chans)
        self.zero_mid = zero_conv(chans[-1])

    def forward(self, x: Tensor, t: int | float | Tensor, cond: Tensor | None, hint: Tensor) -> tuple[list[Tensor], Tensor]:
        """Corrections for the base's skips (one per level) and for its middle features."""
        if hint.dim() != 4 or hint.shape[0] != x.shape[0] or hint.shape[1] != self.hint_channels \
                or hint.shape[2:] != x.shape[2:]:
            raise ValueError(f"the control image must be [N={x.shape[0]}, {self.hint_channels}, {x.shape[2]}, "
                             f"{x.shape[3]}] (one edge map per image, the images' size), got {tuple(hint.shape)}; "
                             "make one with genlib.data.shapes.edge_map")
        h, skips, _, _ = self.copy.encode(x, t, cond, hint=self.hint(hint.to(x.dtype)))
        return [z(s) for z, s in zip(self.zero_skips, skips)], self.zero_mid(h)


class Controlled(nn.Module):
    """base(x, t, cond) steered by a ControlNet and one control image per picture: model(x, t, cond) like any
    denoiser, so the samplers and guidance work unchanged. `strength` scales the corrections (0 = the base)."""

    def __init__(self, base: UNet, control: ControlNet, hint: Tensor, strength: float = 1.0):
        super().__init__()
        self.base, self.control, self.hint, self.strength = base, control, hint, strength

    def forward(self, x: Tensor, t: int | float | Tensor, cond: Tensor | None = None) -> Tensor:
        hint = self.hint if len(self.hint) == len(x) else self.hint.repeat(len(x) // len(self.hint), 1, 1, 1)
        h, skips, temb, text = self.base.encode(x, t, cond)
        res_skips, res_mid = self.control(x, t, cond, hint)
        skips = [s + self.strength * r for s, r in zip(skips, res_skips)]
        return self.base.decode(h + self.strength * res_mid, skips, temb, text)


def load_controlnet(base: UNet, name: str = "shapes_controlnet") -> tuple[ControlNet, dict]:
    """The shipped ControlNet for `base` (the shipped shapes_text2img U-Net; hash-checked, eval mode, frozen) and
    its manifest entry."""
    from genlib.checkpoints import load_checkpoint, read_manifest
    entry = read_manifest().get(name)
    if entry is None:
        raise KeyError(f"no checkpoint {name!r} in checkpoints/manifest.json: train it with "
                       "`python scripts/train_controlnet.py` (30 minutes on one CPU core)")
    control = ControlNet(base).to(next(base.parameters()).device)
    load_checkpoint(name, control)
    return control.eval().requires_grad_(False), entry
