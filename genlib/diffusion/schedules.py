"""Noise schedules for diffusion: how much signal survives at each step t, in the closed forms samplers need.

Conventions (those of DDPM and Hugging Face diffusers): timesteps t = 0 .. T-1; `betas[t]` is the noise added at
step t; `alphas_cumprod[t]` (written ab, "alpha bar") is the share of signal variance left after it, so
x_t = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps. The same process seen by Karras et al. (2022) and k-diffusion is
x_t / sqrt(ab_t) = x_0 + sigma_t eps with sigma_t = sqrt((1 - ab_t) / ab_t). Schedules are float64.
"""
from __future__ import annotations

import math

import torch

Tensor = torch.Tensor


def _check_steps(steps: int) -> None:
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")


def _check_betas(betas: Tensor) -> Tensor:
    betas = torch.as_tensor(betas, dtype=torch.float64)
    if betas.dim() != 1 or len(betas) < 1:
        raise ValueError(f"betas must be a 1-D tensor with one value per timestep, got shape {tuple(betas.shape)}")
    if not ((betas > 0) & (betas < 1)).all():
        raise ValueError(f"betas must lie in (0, 1), got [{betas.min():.3g}, {betas.max():.3g}]")
    return betas


def check_alphas_cumprod(alphas_cumprod: Tensor) -> Tensor:
    """Validate a schedule (1-D, values in (0, 1), strictly decreasing) and return it as float64."""
    ab = torch.as_tensor(alphas_cumprod).detach().to("cpu", torch.float64)
    if ab.dim() != 1 or len(ab) < 2:
        raise ValueError(f"alphas_cumprod must be 1-D with >= 2 timesteps, got shape {tuple(ab.shape)}; "
                         "make one with alphas_cumprod(linear_betas()) or alphas_cumprod(cosine_betas())")
    if not ((ab > 0) & (ab < 1)).all():
        raise ValueError(f"alphas_cumprod must lie strictly in (0, 1), got [{ab.min():.3g}, {ab.max():.3g}]")
    if not (ab[1:] < ab[:-1]).all():
        raise ValueError("alphas_cumprod must strictly decrease with t (each step removes some signal)")
    return ab


def _check_t(t: int | Tensor, num_steps: int) -> Tensor:
    t = torch.as_tensor(t)
    if t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(f"t must be an integer timestep (or tensor of them), got dtype {t.dtype}")
    if t.dim() > 1 or (t.numel() and (t.min() < 0 or t.max() >= num_steps)):
        raise ValueError(f"t must be an int or 1-D tensor of ints in [0, {num_steps - 1}], got {t.tolist()}")
    return t.long().cpu()


def _per_item(values: Tensor, t: Tensor, like: Tensor) -> Tensor:
    """values[t] shaped to broadcast against `like`: a scalar for one t, [N, 1, 1, ...] for a batch of t."""
    v = values[t].to(like.dtype).to(like.device)  # cast on the CPU first: MPS has no float64
    if t.dim() == 1:
        if len(t) != like.shape[0]:
            raise ValueError(f"a batch of {len(t)} timesteps needs {len(t)} items in x, got shape {tuple(like.shape)}")
        v = v.reshape(-1, *([1] * (like.dim() - 1)))
    return v


def linear_betas(steps: int = 1000, start: float = 1e-4, end: float = 0.02) -> Tensor:
    """The DDPM paper's schedule (Ho et al. 2020): noise added per step grows linearly from start to end."""
    _check_steps(steps)
    if not 0 < start <= end < 1:
        raise ValueError(f"need 0 < start <= end < 1, got start={start}, end={end}")
    return torch.linspace(start, end, steps, dtype=torch.float64)


def cosine_alphas_cumprod(steps: int = 1000, s: float = 0.008) -> Tensor:
    """Nichol & Dhariwal's (2021) ideal curve ab(t) = f(t+1) / f(0), f(t) = cos^2(pi/2 (t/T + s) / (1 + s)).

    It falls smoothly and reaches (numerically) 0 at the last step, which is why cosine_betas clips betas.
    """
    _check_steps(steps)
    if s < 0:
        raise ValueError(f"the offset s must be >= 0, got {s}")
    f = lambda u: torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    u = torch.arange(1, steps + 1, dtype=torch.float64) / steps
    return f(u) / f(torch.tensor(0.0, dtype=torch.float64))


def cosine_betas(steps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """Betas of the cosine schedule, beta_t = 1 - ab_t / ab_{t-1}, clipped at max_beta so the last step is finite."""
    ab = torch.cat([torch.ones(1, dtype=torch.float64), cosine_alphas_cumprod(steps, s)])
    return (1 - ab[1:] / ab[:-1]).clamp(max=max_beta)


def alphas_cumprod(betas: Tensor) -> Tensor:
    """ab_t = prod_{s <= t} (1 - beta_s): the share of the signal's variance left after step t."""
    return torch.cumprod(1 - _check_betas(betas), 0)


def snr(alphas_cumprod: Tensor) -> Tensor:
    """Signal-to-noise ratio ab / (1 - ab) at each t (for data of unit variance): 1/sigma^2."""
    ab = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
    return ab / (1 - ab)


def q_sample(x0: Tensor, t: int | Tensor, alphas_cumprod: Tensor, noise: Tensor) -> Tensor:
    """Jump straight to step t: x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) noise, a draw from q(x_t | x_0).

    t is one timestep or a 1-D tensor with one per item of the batch x0 (as in training).
    """
    if noise.shape != x0.shape:
        raise ValueError(f"noise must have x0's shape {tuple(x0.shape)}, got {tuple(noise.shape)}")
    ab = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
    t = _check_t(t, len(ab))
    return _per_item(ab.sqrt(), t, x0) * x0 + _per_item((1 - ab).sqrt(), t, x0) * noise


def forward_moments(x0: Tensor, t: int | Tensor, betas: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of q(x_t | x_0) in closed form: (sqrt(ab_t) x0, sqrt(1 - ab_t))."""
    ab = alphas_cumprod(betas)
    t = _check_t(t, len(ab))
    return _per_item(ab.sqrt(), t, x0) * x0, _per_item((1 - ab).sqrt(), t, x0)


def posterior_coefficients(ab_t: float | Tensor, ab_prev: float | Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """q(x_prev | x_t, x_0) = N(c0 x_0 + ct x_t, var) between any two levels ab_t < ab_prev (ab_prev = 1 at the end).

    With beta = 1 - ab_t / ab_prev (the one step's noise): c0 = sqrt(ab_prev) beta / (1 - ab_t),
    ct = sqrt(1 - beta) (1 - ab_prev) / (1 - ab_t), var = beta (1 - ab_prev) / (1 - ab_t). Returns (c0, ct, var).
    """
    ab_t, ab_prev = torch.as_tensor(ab_t, dtype=torch.float64), torch.as_tensor(ab_prev, dtype=torch.float64)
    if not ((0 < ab_t) & (ab_t < ab_prev) & (ab_prev <= 1)).all():
        raise ValueError("posterior needs 0 < ab_t < ab_prev <= 1: the earlier step must hold more signal")
    beta = 1 - ab_t / ab_prev
    return ab_prev.sqrt() * beta / (1 - ab_t), (1 - beta).sqrt() * (1 - ab_prev) / (1 - ab_t), \
        beta * (1 - ab_prev) / (1 - ab_t)


def posterior_mean_variance(x0: Tensor, xt: Tensor, t: int | Tensor, betas: Tensor) -> tuple[Tensor, Tensor]:
    """DDPM's q(x_{t-1} | x_t, x_0): the exact one-step reverse when x_0 is known. Returns (mean, variance).

    At t = 0 the "previous" step is the data itself: mean x_0, variance 0.
    """
    if xt.shape != x0.shape:
        raise ValueError(f"xt must have x0's shape {tuple(x0.shape)}, got {tuple(xt.shape)}")
    ab = alphas_cumprod(betas)
    t = _check_t(t, len(ab))
    ab_prev = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
    c0, ct, var = posterior_coefficients(ab, ab_prev)
    return _per_item(c0, t, x0) * x0 + _per_item(ct, t, x0) * xt, _per_item(var, t, x0)


def sigmas_from_alphas_cumprod(alphas_cumprod: Tensor) -> Tensor:
    """sigma = sqrt((1 - ab) / ab): the noise level when x_t is rescaled to x_t / sqrt(ab) = x_0 + sigma eps."""
    ab = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
    return ((1 - ab) / ab).sqrt()


def alphas_cumprod_from_sigmas(sigmas: Tensor) -> Tensor:
    """The inverse of sigmas_from_alphas_cumprod: ab = 1 / (1 + sigma^2)."""
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64)
    if (sigmas < 0).any():
        raise ValueError("sigmas must be >= 0")
    return 1 / (1 + sigmas**2)


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Tensor:
    """Karras et al. (2022) spacing: sigma_i = (s_max^(1/rho) + i/(n-1) (s_min^(1/rho) - s_max^(1/rho)))^rho.

    n noise levels from sigma_max down to sigma_min, packed closer at the low end (where detail is made). The
    final sigma = 0 that samplers step to is not included.
    """
    _check_steps(n)
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}")
    if rho <= 0:
        raise ValueError(f"rho must be > 0, got {rho}")
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (hi + ramp * (lo - hi)) ** rho


def timestep_from_sigma(sigma: float | Tensor, alphas_cumprod: Tensor) -> Tensor:
    """The (fractional) training timestep of a noise level: linear interpolation of log sigma between timesteps.

    This is k-diffusion's and diffusers' `_sigma_to_t`; a sigma outside the schedule's range is an error.
    """
    log_s = sigmas_from_alphas_cumprod(check_alphas_cumprod(alphas_cumprod)).log()
    ls = torch.as_tensor(sigma, dtype=torch.float64).log()
    if (ls < log_s[0] - 1e-9).any() or (ls > log_s[-1] + 1e-9).any():
        raise ValueError(f"sigma must lie in the schedule's range [{log_s[0].exp():.4g}, {log_s[-1].exp():.4g}]")
    low = (torch.searchsorted(log_s, ls.clamp(log_s[0], log_s[-1]), right=True) - 1).clamp(0, len(log_s) - 2)
    w = ((ls - log_s[low]) / (log_s[low + 1] - log_s[low])).clamp(0, 1)
    return low + w


def sigma_from_timestep(t: float | Tensor, alphas_cumprod: Tensor) -> Tensor:
    """The noise level at a (fractional) timestep: the inverse of timestep_from_sigma (exact at integer t)."""
    log_s = sigmas_from_alphas_cumprod(check_alphas_cumprod(alphas_cumprod)).log()
    t = torch.as_tensor(t, dtype=torch.float64)
    if (t < 0).any() or (t > len(log_s) - 1).any():
        raise ValueError(f"t must lie in [0, {len(log_s) - 1}]")
    low = t.floor().long().clamp(max=len(log_s) - 2)
    w = t - low
    return ((1 - w) * log_s[low] + w * log_s[low + 1]).exp()
