"""Turning a noise predictor into samples: DDPM, DDIM, Euler, Euler ancestral, Heun and DPM-Solver++ 2M, one interface.

The model is any `model(x_t, t) -> eps`, trained to predict the noise in x_t = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps
on a schedule `alphas_cumprod` with T timesteps; t is a 1-D tensor with one timestep per item.

- "ddpm" and "ddim" walk integer timesteps, `steps` of them evenly spaced from T-1 down to 0 (rounded), then to
  the data (ab = 1). With steps = T, "ddpm" is Ho et al.'s ancestral sampler; with fewer, each step uses the
  respaced posterior between its two levels (beta = 1 - ab_t / ab_prev), as diffusers' DDPMScheduler does, which
  is exactly DDIM with eta = 1. t reaches the model as int64.
- "euler", "euler_ancestral", "heun" and "dpmpp_2m" (k-diffusion's names) integrate in Karras et al.'s sigma view,
  x / sqrt(ab) = x_0 + sigma eps, over `steps` noise levels and then sigma = 0. Without karras the levels are
  those of diffusers' "linspace" spacing for each scheduler: Euler, Euler a and Heun visit `steps` timesteps
  evenly spaced from T-1 down to 0; DPM++ 2M visits round(linspace(T-1, 0, steps + 1))[:-1] (DPMSolverMultistep's
  grid), which stops one interval above t = 0. On Euler's grid DPM++ 2M would spend its last model call at
  sigma_min after a second-order leap to it (sigma 0.38 -> 0.01 at 10 steps: h = 3.6, r = 0.21), which
  overshoots; on its own grid the last step is the method's first-order x <- x_0 from t ~ T / steps.
  With karras=True every sigma sampler uses the Karras et al. (2022) spacing between the schedule's
  smallest and largest sigma. A sigma between two timesteps reaches the model as a fractional float32 t found
  by interpolating log sigma (k-diffusion's and diffusers' `_sigma_to_t`), so the model must accept float t
  (a sinusoidal time embedding does). The final step to sigma = 0 is first order in every sampler.

x_T is standard normal noise in the model's (variance-preserving) space at t = T-1; the sigma samplers start
from x_T sqrt(1 + sigma_max^2), its exact rescaling. eta scales the fresh noise of "ddim" (default 0,
deterministic) and "euler_ancestral" (default 1). NFE (model evaluations): `steps`, except Heun's 2 steps - 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from genlib.diffusion.schedules import (check_alphas_cumprod, karras_sigmas, posterior_coefficients,
                                        sigma_from_timestep, sigmas_from_alphas_cumprod, timestep_from_sigma)
from genlib.progress import progress as progress_bar  # `progress` is sample()'s on/off switch

Tensor = torch.Tensor
Model = Callable[[Tensor, Tensor], Tensor]
SAMPLERS = ("ddpm", "ddim", "euler", "euler_ancestral", "heun", "dpmpp_2m")
SIGMA_SAMPLERS = ("euler", "euler_ancestral", "heun", "dpmpp_2m")
DEFAULT_ETA = {"ddim": 0.0, "euler_ancestral": 1.0}


@dataclass
class SampleResult:
    """What a sampler returns: the samples x_0, the number of model evaluations, and the t of each evaluation."""
    x: Tensor
    nfe: int
    timesteps: Tensor


def timestep_grid(num_train_steps: int, steps: int) -> Tensor:
    """The integer timesteps DDPM/DDIM visit: `steps` of them evenly spaced from T-1 down to 0, rounded."""
    if not isinstance(steps, int) or not 1 <= steps <= num_train_steps:
        raise ValueError(f"ddpm/ddim need an int steps in [1, {num_train_steps}] (the training timesteps), "
                         f"got {steps!r}")
    return torch.linspace(num_train_steps - 1, 0, steps, dtype=torch.float64).round().long()


def sigma_grid(alphas_cumprod: Tensor, steps: int, karras: bool = False, rho: float = 7.0,
               dpm_solver: bool = False) -> Tensor:
    """The steps + 1 noise levels a sigma sampler visits: `steps` levels, then 0.

    Evenly spaced timesteps T-1 .. 0 (Euler's grid); with dpm_solver=True, DPM-Solver++'s integer timesteps
    round(linspace(T-1, 0, steps + 1))[:-1], which end near T / steps rather than at 0; with karras=True (either
    way) the Karras et al. spacing between the schedule's smallest and largest sigma.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    all_sigmas = sigmas_from_alphas_cumprod(check_alphas_cumprod(alphas_cumprod))
    last = len(all_sigmas) - 1
    if karras:
        sigmas = karras_sigmas(steps, all_sigmas[0].item(), all_sigmas[-1].item(), rho)
    elif dpm_solver:  # numpy's linspace arithmetic (k * step), so the rounding matches diffusers' exactly
        ts = (torch.arange(steps + 1, dtype=torch.float64) * (last / steps)).round().flip(0)[:-1]
        sigmas = sigma_from_timestep(ts, alphas_cumprod)
    else:
        sigmas = sigma_from_timestep(torch.linspace(last, 0, steps, dtype=torch.float64), alphas_cumprod)
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def ddim_sigma(ab_t: float, ab_prev: float, eta: float) -> float:
    """DDIM's noise std for the step ab_t -> ab_prev: eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev)."""
    return eta * math.sqrt((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev))


class _Denoiser:
    """Calls the model, counts evaluations, and turns its noise prediction into a prediction of x_0."""

    def __init__(self, model: Model, ab: Tensor, clip: float | None):
        self.model, self.ab, self.clip, self.ts = model, ab, clip, []

    def __call__(self, x: Tensor, t: Tensor, ab_t: float) -> tuple[Tensor, Tensor]:
        """(eps, x0) for x = x_t at level ab_t; with clip, x0 is clamped and eps recomputed to agree with it."""
        self.ts.append(t.item())
        eps = self.model(x, t.to(x.device).expand(x.shape[0]))
        if not isinstance(eps, Tensor) or eps.shape != x.shape:
            raise ValueError(f"the model must return predicted noise shaped like x_t {tuple(x.shape)}, got "
                             f"{tuple(eps.shape) if isinstance(eps, Tensor) else type(eps).__name__}")
        x0 = (x - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
        if self.clip is not None:
            x0 = x0.clamp(-self.clip, self.clip)
            eps = (x - math.sqrt(ab_t) * x0) / math.sqrt(1 - ab_t)
        return eps, x0

    def at_sigma(self, x: Tensor, sigma: float, t: Tensor) -> Tensor:
        """x_0 predicted from x = x_0 + sigma eps (sigma view): the model sees x / sqrt(1 + sigma^2) at t(sigma)."""
        return self(x / math.sqrt(1 + sigma**2), t, 1 / (1 + sigma**2))[1]


def _randn(shape: tuple, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """Standard normal noise drawn on the generator's device (CPU by default), so samples agree across devices."""
    dev = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(shape, generator=generator, device=dev).to(like.device, like.dtype)


def _ddim_like(den: _Denoiser, x: Tensor, ts: Tensor, eta: float, ancestral: bool, gen, bar, callback) -> Tensor:
    for i in bar(range(len(ts))):
        ab_t = den.ab[ts[i]].item()
        ab_prev = den.ab[ts[i + 1]].item() if i + 1 < len(ts) else 1.0
        eps, x0 = den(x, ts[i], ab_t)
        if ancestral:  # DDPM: the posterior q(x_prev | x_t, x_0) with the predicted x_0
            c0, ct, var = (v.item() for v in posterior_coefficients(ab_t, ab_prev))
            x, std = c0 * x0 + ct * x, math.sqrt(var)
        else:  # DDIM: x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - std^2) eps + std z
            std = ddim_sigma(ab_t, ab_prev, eta)
            x = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - std**2, 0.0)) * eps
        if std > 0:
            x = x + std * _randn(x.shape, gen, x)
        if callback is not None:
            callback(i, x, x0)
    return x


def _sigma_solver(den: _Denoiser, x: Tensor, sigmas: list[float], name: str, eta: float, gen, bar, callback) -> Tensor:
    ts = timestep_from_sigma(torch.tensor(sigmas[:-1], dtype=torch.float64), den.ab).float()  # the model's t
    old_x0 = None
    for i in bar(range(len(sigmas) - 1)):
        s, s_next = sigmas[i], sigmas[i + 1]
        x0 = den.at_sigma(x, s, ts[i])
        d = (x - x0) / s  # dx/dsigma of the probability-flow ODE (= the predicted noise)
        if name == "euler" or (name == "heun" and s_next == 0):
            x = x + d * (s_next - s)
        elif name == "heun":  # Karras et al. Algorithm 1: average the slopes at both ends
            x_e = x + d * (s_next - s)
            d_next = (x_e - den.at_sigma(x_e, s_next, ts[i + 1])) / s_next
            x = x + (d + d_next) / 2 * (s_next - s)
        elif name == "euler_ancestral":  # step down to s_down, then add fresh noise of std s_up to reach s_next
            s_up = min(s_next, eta * math.sqrt(s_next**2 * (s**2 - s_next**2) / s**2))
            s_down = math.sqrt(s_next**2 - s_up**2)
            x = x + d * (s_down - s)
            if s_up > 0:
                x = x + s_up * _randn(x.shape, gen, x)
        elif s_next == 0:  # dpmpp_2m's last step: first order, straight to the prediction
            x = x0
        else:  # DPM-Solver++(2M), Lu et al. 2022: lambda = -log sigma, extrapolate x0 from the last two steps
            h = math.log(s / s_next)
            if old_x0 is None:
                D = x0
            else:
                r = math.log(sigmas[i - 1] / s) / h
                D = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * old_x0
            x = (s_next / s) * x - math.expm1(-h) * D
        old_x0 = x0
        if callback is not None:
            callback(i, x / math.sqrt(1 + s_next**2), x0)
    return x


@torch.no_grad()
def sample(model: Model, shape: tuple[int, ...], sampler: str = "dpmpp_2m", steps: int = 20, *,
           alphas_cumprod: Tensor, karras: bool = False, eta: float | None = None,
           generator: torch.Generator | None = None, x_T: Tensor | None = None, clip_denoised: float | None = None,
           device: torch.device | str | None = None, progress: bool = True,
           callback: Callable[[int, Tensor, Tensor], None] | None = None) -> SampleResult:
    """Draw samples of `shape` from a noise predictor with the named sampler; see the module docstring.

    clip_denoised=1.0 clamps each predicted x_0 to [-1, 1] (images scaled to [-1, 1]). callback(i, x, x0) is
    called after step i with the new state (in the model's space) and the x_0 predicted during the step.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}: use one of {', '.join(SAMPLERS)}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if eta is not None and sampler not in DEFAULT_ETA:
        raise ValueError(f"eta only applies to {' and '.join(DEFAULT_ETA)}, not {sampler!r}; leave it out")
    eta = DEFAULT_ETA.get(sampler, 0.0) if eta is None else eta
    if not 0 <= eta <= 1:
        raise ValueError(f"eta must lie in [0, 1] (0 = deterministic, 1 = full ancestral noise), got {eta}")
    if karras and sampler not in SIGMA_SAMPLERS:
        raise ValueError(f"karras=True applies to the sigma samplers {', '.join(SIGMA_SAMPLERS)}, not {sampler!r}")
    if clip_denoised is not None and clip_denoised <= 0:
        raise ValueError(f"clip_denoised must be > 0 (e.g. 1.0 for images in [-1, 1]) or None, got {clip_denoised}")
    shape = tuple(shape)
    if x_T is not None and tuple(x_T.shape) != shape:
        raise ValueError(f"x_T has shape {tuple(x_T.shape)} but shape={shape} was asked for")
    ab = check_alphas_cumprod(alphas_cumprod)
    device = torch.device(device) if device is not None else (x_T.device if x_T is not None else
                                                              torch.as_tensor(alphas_cumprod).device)
    x = x_T.to(device, torch.float32) if x_T is not None else _randn(shape, generator, torch.empty(0, device=device))
    den = _Denoiser(model, ab, clip_denoised)
    bar = lambda it: progress_bar(it, disable=not progress, desc=f"{sampler} ({steps} steps)", leave=False)  # noqa: E731
    if sampler in SIGMA_SAMPLERS:
        sigmas = sigma_grid(ab, steps, karras, dpm_solver=sampler == "dpmpp_2m").tolist()
        x = _sigma_solver(den, x * math.sqrt(1 + sigmas[0] ** 2), sigmas, sampler, eta, generator, bar, callback)
    else:
        x = _ddim_like(den, x, timestep_grid(len(ab), steps), eta, sampler == "ddpm", generator, bar, callback)
    return SampleResult(x=x, nfe=len(den.ts), timesteps=torch.tensor(den.ts))
