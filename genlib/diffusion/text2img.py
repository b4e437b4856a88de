"""Notebook 16's text-to-image denoiser: the shipped U-Net that reads the tiny CLIP's text encoder (shapes)."""
from __future__ import annotations

import torch
from torch import nn

from genlib.diffusion.schedules import alphas_cumprod, linear_betas

NAME = "shapes_text2img"


def load_text2img(device: torch.device | str | None = None) -> tuple[nn.Module, torch.Tensor, dict]:
    """The shipped text-conditional U-Net (hash-checked, eval mode) as a noise predictor model(x, t, context),
    its schedule's alphas_cumprod and its manifest entry. Read captions with genlib.image.clip.load_shapes_clip."""
    from genlib.checkpoints import load_checkpoint, read_manifest
    from genlib.device import get_device
    from genlib.diffusion.edm import EpsFromEDM
    from genlib.image.unet import UNet
    entry = read_manifest().get(NAME)
    if entry is None:
        raise KeyError(f"no checkpoint {NAME!r} in checkpoints/manifest.json: train it with "
                       "`python scripts/train_text2img.py` (about an hour on one CPU core)")
    settings = entry["settings"]
    net = UNet(settings["model"]).to(get_device(device) if device is None or isinstance(device, str) else device)
    load_checkpoint(NAME, net)
    ab = alphas_cumprod(linear_betas(settings["timesteps"]))
    return EpsFromEDM(net, ab, settings["sigma_data"]).eval().requires_grad_(False), ab, entry
