"""Editing with a trained denoiser, no retraining: image-to-image (SDEdit) and inpainting.

SDEdit (Meng et al. 2022): noise a picture part of the way, to the level `strength` of the schedule, and let any
sampler denoise from there: strength 0 keeps the picture, 1 ignores it, in between keeps its layout and colours
and redraws the details. It is the samplers' own loop on the first `strength` share of the schedule.

Inpainting (the replacement method of RePaint, Lugmayr et al. 2022, without its resampling): at every step of a
DDIM/DDPM walk, the pixels outside the mask are overwritten with the original picture noised to the current
level, so the model only has to invent the masked pixels, and invents them to fit what it sees.
"""
from __future__ import annotations

import torch

from genlib.diffusion.samplers import Model, sample, timestep_grid
from genlib.diffusion.schedules import check_alphas_cumprod, q_sample

Tensor = torch.Tensor


def _check_strength(strength: float) -> None:
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 1:
        raise ValueError(f"strength must lie in [0, 1] (0 = keep the picture, 1 = ignore it; try 0.5), "
                         f"got {strength!r}")


@torch.no_grad()
def sdedit(model: Model, x0: Tensor, strength: float, steps: int, *, alphas_cumprod: Tensor,
           sampler: str = "ddim", generator: torch.Generator | None = None, **kwargs) -> Tensor:
    """Image-to-image: x0 (in [-1, 1]) noised to timestep round(strength * T) - 1, then sampled back to t = 0
    with `sampler` in about strength * steps steps (at least one). strength 0 returns x0 itself."""
    _check_strength(strength)
    ab = check_alphas_cumprod(alphas_cumprod)
    start = round(strength * len(ab))
    if start == 0:
        return x0.clone()
    noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
    x_start = q_sample(x0, torch.full((len(x0),), start - 1), ab, noise)
    n = max(1, min(start, round(strength * steps)))
    return sample(model, x0.shape, sampler, n, alphas_cumprod=ab[:start], x_T=x_start, generator=generator,
                  progress=False, **kwargs).x


@torch.no_grad()
def inpaint(model: Model, x0: Tensor, mask: Tensor, steps: int, *, alphas_cumprod: Tensor, eta: float = 1.0,
            generator: torch.Generator | None = None) -> Tensor:
    """Fill the pixels where mask == 1 (mask [N or 1, 1, H, W], 1 = redraw) of x0 in [-1, 1]; the others are
    kept. A DDIM walk over `steps` timesteps (eta = 1: DDPM-like fresh noise, which blends the seam better)."""
    ab = check_alphas_cumprod(alphas_cumprod)
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[2:] != x0.shape[2:] or mask.shape[0] not in (1, len(x0)):
        raise ValueError(f"mask must be [N or 1, 1, {x0.shape[2]}, {x0.shape[3]}] (1 = redraw, 0 = keep) for images "
                         f"{tuple(x0.shape)}, got {tuple(mask.shape)}")
    m = mask.to(x0.device, x0.dtype)
    ts = timestep_grid(len(ab), steps).tolist()
    x = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
    for i, t in enumerate(ts):
        a_t = ab[t].item()
        a_prev = ab[ts[i + 1]].item() if i + 1 < len(ts) else 1.0
        known = q_sample(x0, torch.full((len(x0),), t), ab, torch.randn(x0.shape, generator=generator).to(x0))
        x = m * x + (1 - m) * known                                   # the kept pixels, at this step's noise level
        eps = model(x, torch.full((len(x0),), t, device=x0.device))
        pred_x0 = (x - (1 - a_t) ** 0.5 * eps) / a_t ** 0.5
        sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)) ** 0.5 if a_prev < 1 else 0.0
        fresh = torch.randn(x0.shape, generator=generator).to(x0) if sigma > 0 else 0.0
        x = a_prev ** 0.5 * pred_x0 + max(1 - a_prev - sigma ** 2, 0.0) ** 0.5 * eps + sigma * fresh
    return m * x + (1 - m) * x0
