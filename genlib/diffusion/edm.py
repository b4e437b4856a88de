"""Karras et al.'s (2022, "EDM") preconditioning: a denoiser D(x; sigma) built around the network, and its loss.

In the sigma view x = x_0 + sigma eps the network F is asked for a target of unit variance at every noise level:

    D(x; sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma))
    c_skip = s_d^2 / (sigma^2 + s_d^2),  c_out = sigma s_d / sqrt(sigma^2 + s_d^2),  c_in = 1 / sqrt(sigma^2 + s_d^2)

with s_d = sigma_data, the data's standard deviation (0.5 for images in [-1, 1]). At low noise D ~ x (little to
learn), at high noise D ~ s_d F (the network's error is never blown up). The loss draws log sigma from a normal
(most training where the images take shape) and weights the error by lambda = 1 / c_out^2, so every level counts
the same in F's units. c_noise is EDM's ln(sigma) / 4, times 1000 because the U-Net's sinusoidal time embedding
expects numbers in the hundreds (DDPM timesteps). v-prediction is this with s_d = 1 and uniform timesteps.

The samplers want a noise predictor on the DDPM grid: x_t = sqrt(ab) x_0 + sqrt(1 - ab) eps is x_sigma = x_t /
sqrt(ab) with sigma = sqrt((1 - ab) / ab), and eps = (x_sigma - D(x_sigma; sigma)) / sigma (EpsFromEDM).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from genlib.diffusion.schedules import check_alphas_cumprod, sigma_from_timestep, sigmas_from_alphas_cumprod

Tensor = torch.Tensor
SIGMA_DATA = 0.5  # the standard deviation of MNIST pixels scaled to [-1, 1] is about 0.6; EDM uses 0.5 for [-1, 1]
P_MEAN, P_STD = -1.2, 1.2  # EDM's log-normal noise levels: ln sigma ~ N(-1.2, 1.2^2)


def _sigma(sigma: float | Tensor) -> Tensor:
    s = torch.as_tensor(sigma, dtype=torch.float64 if not torch.is_tensor(sigma) else None)
    if s.is_complex() or not s.is_floating_point() or not torch.isfinite(s).all() or (s <= 0).any():
        raise ValueError("sigma must be finite and > 0 (a noise level; sigma = 0 is the clean image, where the "
                         "denoiser is the identity)")
    return s


def _sigma_data(sigma_data: float) -> float:
    if not (isinstance(sigma_data, (int, float)) and math.isfinite(sigma_data) and sigma_data > 0):
        raise ValueError(f"sigma_data must be a positive float (the data's std, 0.5 for [-1, 1]), got {sigma_data!r}")
    return float(sigma_data)


def edm_coefficients(sigma: float | Tensor, sigma_data: float = SIGMA_DATA) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(c_skip, c_out, c_in, c_noise) at noise level(s) sigma: EDM's Table 1, c_noise scaled by 1000 (see above)."""
    s, sd = _sigma(sigma), _sigma_data(sigma_data)
    total = s**2 + sd**2
    return sd**2 / total, s * sd / total.sqrt(), 1 / total.sqrt(), 250 * s.log()


def edm_loss_weight(sigma: float | Tensor, sigma_data: float = SIGMA_DATA) -> Tensor:
    """EDM's lambda(sigma) = (sigma^2 + s_d^2) / (sigma s_d)^2 = 1 / c_out^2: the weight of |D - x_0|^2 per level."""
    s, sd = _sigma(sigma), _sigma_data(sigma_data)
    return (s**2 + sd**2) / (s * sd) ** 2


def _per_item(v: Tensor, like: Tensor) -> Tensor:
    return v.reshape(-1, *[1] * (like.dim() - 1)).to(like.device, like.dtype)


class EDMDenoiser(nn.Module):
    """D(x; sigma) = c_skip x + c_out F(c_in x, c_noise): the preconditioned denoiser around a network F(x, t)."""

    def __init__(self, net: nn.Module, sigma_data: float = SIGMA_DATA):
        super().__init__()
        self.net, self.sigma_data = net, _sigma_data(sigma_data)

    def forward(self, x: Tensor, sigma: float | Tensor, *cond) -> Tensor:
        s = _sigma(sigma).detach().to("cpu", torch.float64)
        s = s.expand(x.shape[0]) if s.dim() == 0 else s
        if s.shape != (x.shape[0],):
            raise ValueError(f"sigma must be one noise level or one per image ({x.shape[0]}), got shape "
                             f"{tuple(s.shape)}")
        c_skip, c_out, c_in, c_noise = edm_coefficients(s, self.sigma_data)
        f = self.net(_per_item(c_in, x) * x, c_noise.to(x.device, torch.float32), *cond)  # cond: labels, if any
        return _per_item(c_skip, x) * x + _per_item(c_out, x) * f


def sample_sigmas(n: int, alphas_cumprod: Tensor | None = None, schedule_share: float = 0.0,
                  generator: torch.Generator | None = None) -> Tensor:
    """n training noise levels (float64): ln sigma ~ N(P_MEAN, P_STD^2), a share of them at uniform DDPM timesteps.

    The log-normal almost never reaches the linear schedule's top (sigma = 157 at t = 999 is 5 standard deviations
    out), yet every sampler starts there; the `schedule_share` drawn at the schedule's own sigmas (uniform t, half of
    them above sigma ~ 3) keep the network trained where sampling begins.
    """
    if not 0 <= schedule_share <= 1:
        raise ValueError(f"schedule_share is a probability in [0, 1], got {schedule_share}")
    if schedule_share > 0 and alphas_cumprod is None:
        raise ValueError("schedule_share > 0 needs the schedule's alphas_cumprod to draw its sigmas from")
    sigmas = (P_MEAN + P_STD * torch.randn(n, generator=generator, dtype=torch.float64)).exp()
    if schedule_share > 0:
        all_sigmas = sigmas_from_alphas_cumprod(check_alphas_cumprod(alphas_cumprod))
        from_schedule = all_sigmas[torch.randint(len(all_sigmas), (n,), generator=generator)]
        pick = torch.rand(n, generator=generator, dtype=torch.float64) < schedule_share
        sigmas = torch.where(pick, from_schedule, sigmas)
    return sigmas


def edm_loss(net: nn.Module, x0: Tensor, alphas_cumprod: Tensor | None = None, sigma: Tensor | None = None,
             noise: Tensor | None = None, generator: torch.Generator | None = None, schedule_share: float = 0.25,
             sigma_data: float = SIGMA_DATA) -> Tensor:
    """EDM's loss: mean over the batch of lambda(sigma) |D(x0 + sigma eps; sigma) - x0|^2 (per-pixel mean).

    sigma is drawn by sample_sigmas (log-normal, `schedule_share` of them at the DDPM schedule's levels) unless
    given; the same arguments as the course's other diffusion losses otherwise.
    """
    if x0.dim() < 2:
        raise ValueError(f"x0 must be a batch [N, ...] of clean data, got shape {tuple(x0.shape)}")
    sigma = _sigma(sample_sigmas(len(x0), alphas_cumprod, schedule_share, generator) if sigma is None else sigma)
    sigma = sigma.expand(len(x0)) if sigma.dim() == 0 else sigma
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
    denoised = EDMDenoiser(net, sigma_data)(x0 + _per_item(sigma, x0) * noise, sigma)
    per_item = (denoised - x0).pow(2).flatten(1).mean(1)
    return (edm_loss_weight(sigma, sigma_data).to(x0.device, x0.dtype) * per_item).mean()


class EpsFromEDM(nn.Module):
    """Wraps an EDM-trained network as the noise predictor the samplers call, on the DDPM timestep grid.

    x_t = sqrt(ab) x_0 + sqrt(1 - ab) eps is x_sigma = x_t / sqrt(ab) = x_0 + sigma eps, so eps = (x_sigma - D) /
    sigma; fractional t (from the sigma samplers) gets its sigma by the samplers' own log-sigma interpolation.
    """

    def __init__(self, net: nn.Module, alphas_cumprod: Tensor, sigma_data: float = SIGMA_DATA):
        super().__init__()
        self.denoiser, self.alphas_cumprod = EDMDenoiser(net, sigma_data), check_alphas_cumprod(alphas_cumprod)

    def forward(self, x: Tensor, t: int | float | Tensor, *cond) -> Tensor:
        t_vec = torch.as_tensor(t, device=x.device)
        t_vec = t_vec.expand(x.shape[0]) if t_vec.dim() == 0 else t_vec
        sigma = sigma_from_timestep(t_vec.detach().cpu().double(), self.alphas_cumprod)
        x_sigma = _per_item((1 + sigma**2).sqrt(), x) * x  # 1 / sqrt(ab) = sqrt(1 + sigma^2)
        return (x_sigma - self.denoiser(x_sigma, sigma, *cond)) / _per_item(sigma, x)
