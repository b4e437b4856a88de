"""DDPM's training side: the noise-prediction loss, an exponential moving average of the weights, the shipped model.

Ho et al. (2020) train eps_theta by noising a clean batch to a random timestep with q(x_t | x_0) and asking the
network for the noise: loss = mean |eps - eps_theta(sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps, t)|^2 ("L_simple").
Salimans & Ho (2022) ask for v = sqrt(ab) eps - sqrt(1 - ab) x_0 instead, which stays well posed at the noisiest
steps; EpsFromV turns such a network back into a noise predictor. Sampling uses the weights' moving average,
which is much smoother than the last step's weights.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from genlib.train import EMA  # noqa: F401  (re-exported: DDPM training keeps an EMA of the U-Net)
from genlib.diffusion.schedules import _check_t, _per_item, check_alphas_cumprod, q_sample, sigma_from_timestep

Tensor = torch.Tensor


def _noised(x0: Tensor, alphas_cumprod: Tensor, t: Tensor | None, noise: Tensor | None,
            generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """A training example: (ab as float64, x_t, t, noise), drawing t uniformly and the noise if not given."""
    ab = check_alphas_cumprod(alphas_cumprod)
    if x0.dim() < 2:
        raise ValueError(f"x0 must be a batch [N, ...] of clean data, got shape {tuple(x0.shape)}")
    if t is None:
        t = torch.randint(len(ab), (x0.shape[0],), generator=generator)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
    t = torch.as_tensor(t)
    return ab, q_sample(x0, t, ab, noise), t, noise


def min_snr_weight(alphas_cumprod: Tensor, t: Tensor, gamma: float, prediction: str) -> Tensor:
    """Min-SNR-gamma loss weights per item (Hang et al. 2023): min(snr, gamma) on the x0 error, in the target's units.

    The eps error is sqrt(snr) times the x0 error and the v error sqrt(snr + 1) times it, so the weights on their
    MSEs are min(snr, gamma) / snr and min(snr, gamma) / (snr + 1): the easy low-noise steps stop dominating.
    """
    if not (isinstance(gamma, (int, float)) and gamma > 0):
        raise ValueError(f"gamma must be a positive number (Hang et al. use 5), got {gamma!r}")
    if prediction not in ("eps", "v"):
        raise ValueError(f"prediction must be 'eps' or 'v', got {prediction!r}")
    ab = check_alphas_cumprod(alphas_cumprod)[_check_t(t, len(alphas_cumprod))]
    snr = ab / (1 - ab)
    return snr.clamp(max=gamma) / (snr if prediction == "eps" else snr + 1)


def _weighted_mse(pred: Tensor, target: Tensor, weight: Tensor | None) -> Tensor:
    if weight is None:
        return F.mse_loss(pred, target)
    return (weight.to(pred.device, pred.dtype) * (pred - target).pow(2).flatten(1).mean(1)).mean()


def noise_prediction_loss(model: nn.Module, x0: Tensor, alphas_cumprod: Tensor, t: Tensor | None = None,
                          noise: Tensor | None = None, generator: torch.Generator | None = None,
                          min_snr_gamma: float | None = None) -> Tensor:
    """DDPM's L_simple: noise x0 to timesteps t (uniform if not given), score the model's noise guess by MSE
    (weighted per item by min_snr_weight if min_snr_gamma is given)."""
    ab, xt, t, noise = _noised(x0, alphas_cumprod, t, noise, generator)
    weight = None if min_snr_gamma is None else min_snr_weight(ab, t, min_snr_gamma, "eps")
    return _weighted_mse(model(xt, t.to(x0.device)), noise, weight)


def v_target(x0: Tensor, t: int | Tensor, alphas_cumprod: Tensor, noise: Tensor) -> Tensor:
    """The "velocity" v = sqrt(ab_t) eps - sqrt(1 - ab_t) x0 (Salimans & Ho 2022); arguments as in q_sample."""
    ab = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
    t = _check_t(t, len(ab))
    return _per_item(ab.sqrt(), t, x0) * noise - _per_item((1 - ab).sqrt(), t, x0) * x0


def v_prediction_loss(net: nn.Module, x0: Tensor, alphas_cumprod: Tensor, t: Tensor | None = None,
                      noise: Tensor | None = None, generator: torch.Generator | None = None,
                      min_snr_gamma: float | None = None) -> Tensor:
    """Like L_simple, but the network is asked for v instead of eps: MSE of net(x_t, t) against v_target
    (weighted per item by min_snr_weight if min_snr_gamma is given)."""
    ab, xt, t, noise = _noised(x0, alphas_cumprod, t, noise, generator)
    weight = None if min_snr_gamma is None else min_snr_weight(ab, t, min_snr_gamma, "v")
    return _weighted_mse(net(xt, t.to(x0.device)), v_target(x0, t, ab, noise), weight)


class EpsFromV(nn.Module):
    """Wraps a v-predicting network as the noise predictor the samplers call: eps = sqrt(1 - ab) x_t + sqrt(ab) v.

    Why: at high noise x_t is almost all noise, so eps ~ x_t comes for free and the network's error is scaled by
    sqrt(ab) ~ 0, whereas an eps-network must learn the identity there, and x0 = (x_t - sqrt(1 - ab) eps) / sqrt(ab)
    multiplies its slightest error by up to 1/sqrt(ab) = 157. Fractional t (from the sigma samplers) gets ab by
    the same log-sigma interpolation the samplers use.
    """

    def __init__(self, net: nn.Module, alphas_cumprod: Tensor):
        super().__init__()
        self.net, self.alphas_cumprod = net, check_alphas_cumprod(alphas_cumprod)

    def forward(self, x: Tensor, t: int | float | Tensor, *cond) -> Tensor:
        t_vec, ab = _ab_at(x, t, self.alphas_cumprod)
        return (1 - ab).sqrt() * x + ab.sqrt() * self.net(x, t_vec, *cond)


def _ab_at(x: Tensor, t: int | float | Tensor, alphas_cumprod: Tensor) -> tuple[Tensor, Tensor]:
    """t as one timestep per item, and ab at each (fractional t by the samplers' log-sigma interpolation), x-shaped."""
    t_vec = torch.as_tensor(t, device=x.device)
    t_vec = t_vec.expand(x.shape[0]) if t_vec.dim() == 0 else t_vec
    ab = 1 / (1 + sigma_from_timestep(t_vec.detach().cpu().double(), alphas_cumprod) ** 2)
    return t_vec, ab.reshape(-1, *[1] * (x.dim() - 1)).to(x.device, x.dtype)


class ClipX0(nn.Module):
    """A noise predictor whose implied clean image x0 = (x_t - sqrt(1 - ab) eps) / sqrt(ab) is clipped to [-1, 1].

    An option (as_noise_predictor(..., clip_x0=True)), not a default: it hides a network's wild guesses at high
    noise, where x0 divides by sqrt(ab) ~ 0.006, and changes what the ODE samplers integrate.
    """

    def __init__(self, eps_model: nn.Module, alphas_cumprod: Tensor):
        super().__init__()
        self.eps_model, self.alphas_cumprod = eps_model, check_alphas_cumprod(alphas_cumprod)

    def forward(self, x: Tensor, t: int | float | Tensor, *cond) -> Tensor:
        t_vec, ab = _ab_at(x, t, self.alphas_cumprod)
        x0 = ((x - (1 - ab).sqrt() * self.eps_model(x, t_vec, *cond)) / ab.sqrt()).clamp(-1, 1)
        return (x - ab.sqrt() * x0) / (1 - ab).sqrt()


PREDICTIONS = ("eps", "v", "edm")


def as_noise_predictor(net: nn.Module, alphas_cumprod: Tensor, prediction: str, clip_x0: bool = False,
                       sigma_data: float | None = None) -> nn.Module:
    """The noise predictor the samplers call, for a network trained to predict `prediction`: "eps", "v" or "edm"
    (genlib.diffusion.edm's preconditioned denoiser, with its sigma_data); clip_x0 wraps it in ClipX0."""
    if prediction not in PREDICTIONS:
        raise ValueError("prediction must be 'eps', 'v' or 'edm' (what the network was trained to output), "
                         f"got {prediction!r}")
    if prediction == "edm":
        from genlib.diffusion.edm import SIGMA_DATA, EpsFromEDM
        model = EpsFromEDM(net, alphas_cumprod, SIGMA_DATA if sigma_data is None else sigma_data)
    else:
        model = EpsFromV(net, alphas_cumprod) if prediction == "v" else net
    return ClipX0(model, alphas_cumprod) if clip_x0 else model


def load_ddpm_mnist(device: torch.device | str | None = None,
                    name: str = "ddpm_mnist") -> tuple[nn.Module, Tensor, dict]:
    """The shipped MNIST noise predictor (hash-checked, eval mode), its schedule's alphas_cumprod, its manifest.

    A checkpoint trained to predict v (or with EDM's preconditioning) comes wrapped in EpsFromV (EpsFromEDM), so it
    is called like any noise predictor.
    """
    from genlib.checkpoints import load_checkpoint, read_manifest
    from genlib.device import get_device
    from genlib.diffusion.schedules import alphas_cumprod, cosine_betas, linear_betas
    from genlib.image.unet import UNet
    entry = read_manifest().get(name)
    if entry is None:
        raise KeyError(f"no checkpoint {name!r} in checkpoints/manifest.json: train it with "
                       f"`python scripts/train_ddpm.py --name {name}` (60 CPU-minutes; add --prediction eps "
                       "for ddpm_mnist_eps)")
    settings = entry["settings"]
    model = UNet(settings["model"]).to(get_device(device) if device is None or isinstance(device, str) else device)
    load_checkpoint(name, model)
    betas = {"linear": linear_betas, "cosine": cosine_betas}[settings["schedule"]](settings["timesteps"])
    ab = alphas_cumprod(betas)
    model = as_noise_predictor(model, ab, settings.get("prediction", "eps"),  # the samplers want noise
                               sigma_data=settings.get("sigma_data"))
    return model.eval().requires_grad_(False), ab, entry


@torch.no_grad()
def sample_images(model: nn.Module, alphas_cumprod: Tensor, n: int, sampler: str = "dpmpp_2m", steps: int = 20, *,
                  karras: bool = False, seed: int = 0, batch_size: int = 250,
                  image_shape: tuple[int, ...] = (1, 28, 28), device: torch.device | str | None = None,
                  progress: bool = True, cond: Tensor | None = None, null: int | Tensor | None = None,
                  guidance: float = 1.0, decode: Callable[[Tensor], Tensor] | None = None,
                  **kwargs) -> tuple[Tensor, int]:
    """n images in [0, 1] (CPU) from genlib.diffusion.sample, in batches, and the model evaluations per image.

    `decode` turns each batch of sampled x into images in [0, 1] (a latent model's decoder); by default x holds
    pixels in [-1, 1], clamped and mapped to [0, 1]. `image_shape` is then the latent's shape.

    cond (one per image, e.g. class labels) samples a conditional model(x, t, cond), guided from `null` by
    `guidance` (genlib.diffusion.guidance.Guided; 1 = plain conditional). A guided step costs two evaluations.
    `null` may also hold one condition per image (negative prompts).

    The starting noise x_T depends only on `seed` and n, so every sampler starts from the same noise; the fresh
    noise of ancestral samplers comes from one generator per batch (seeded from `seed` and the batch number).
    """
    from genlib.diffusion.guidance import Guided
    from genlib.diffusion.samplers import sample
    from genlib.progress import progress as progress_bar   # `progress` is this function's on/off switch
    if n < 1 or batch_size < 1:
        raise ValueError(f"n and batch_size must be >= 1, got n={n}, batch_size={batch_size}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    if cond is not None and (len(cond) != n or null is None):
        raise ValueError(f"cond needs one entry per image ({n}, got {len(cond)}) and the `null` condition that "
                         "stands for none (for a class-conditional U-Net: its num_classes)")
    per_image = cond is not None and isinstance(null, Tensor) and null.dim() == cond.dim() and len(null) == n
    x_T = torch.randn((n, *image_shape), generator=torch.Generator().manual_seed(seed))
    out, nfe = [], 0
    for b, start in enumerate(progress_bar(range(0, n, batch_size), disable=not progress, leave=False,
                                           desc=f"{sampler} {steps} steps{' karras' if karras else ''}")):
        chunk = x_T[start:start + batch_size].to(device)
        net = model if cond is None else Guided(model, cond[start:start + batch_size].to(device),
                                                null[start:start + batch_size] if per_image else null, guidance)
        res = sample(net, chunk.shape, sampler, steps, alphas_cumprod=alphas_cumprod, karras=karras, x_T=chunk,
                     generator=torch.Generator().manual_seed(seed * 100_003 + b + 1), device=device, progress=False,
                     **kwargs)
        out.append((decode(res.x) if decode is not None else (res.x.clamp(-1, 1) + 1) / 2).cpu())
        nfe = res.nfe * (1 if cond is None or guidance in (0, 1) else 2)
    return torch.cat(out), nfe
