"""Noise schedules and the forward process: closed forms against iteration, Bayes and brute force."""
import math

import pytest
import torch

from genlib.diffusion import (alphas_cumprod, alphas_cumprod_from_sigmas, cosine_alphas_cumprod, cosine_betas,
                              forward_moments, karras_sigmas, linear_betas, posterior_mean_variance, q_sample,
                              sigma_from_timestep, sigmas_from_alphas_cumprod, snr, timestep_from_sigma)


def test_closed_form_forward_process_matches_iterated_noising():
    torch.manual_seed(0)
    betas = linear_betas(100)
    x0 = torch.full((32_000,), 0.7)  # under torch's 32,768-element threading grain: fast on a busy CPU
    x = x0.clone()
    for b in betas[:50]:
        x = (1 - b).sqrt() * x + b.sqrt() * torch.randn_like(x)
    mean, std = forward_moments(x0, t=49, betas=betas)  # closed form q(x_t | x_0)
    assert abs(x.mean() - mean.mean()) < 0.01 and abs(x.std() - std) < 0.01
    assert abs(std - 1) > 0.1  # at t = 49 of 100 the noise is far from complete, so the check has teeth


def test_linear_schedule_is_the_ddpm_one():
    betas = linear_betas()
    assert len(betas) == 1000 and betas[0] == 1e-4 and abs(betas[-1] - 0.02) < 1e-12
    ab = alphas_cumprod(betas)
    by_hand = 1.0
    for b in betas.tolist():  # an independent product in plain Python floats
        by_hand *= 1 - b
    assert math.isclose(ab[-1].item(), by_hand, rel_tol=1e-9) and 4.0e-5 < by_hand < 4.1e-5


def test_cosine_schedule_follows_its_formula_and_clips_the_last_beta():
    T, s = 1000, 0.008
    ab = cosine_alphas_cumprod(T, s)
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    assert math.isclose(ab[499].item(), f(0.5) / f(0.0), rel_tol=1e-12)  # ab after step 500 of 1000
    betas = cosine_betas(T, s)
    assert betas.max() == 0.999 and betas[-1] == 0.999  # the unclipped last beta would be 1: no signal at all
    torch.testing.assert_close(alphas_cumprod(betas)[:-1], ab[:-1], rtol=1e-9, atol=0)  # same curve until the clip
    assert alphas_cumprod(betas)[-1] > 0 and ab[-1] < 1e-30


def test_q_sample_takes_one_timestep_per_item():
    ab = alphas_cumprod(linear_betas())
    x0, noise = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    t = torch.tensor([0, 500, 999])
    out = q_sample(x0, t, ab, noise)
    for i in range(3):
        a = ab[t[i]].item()
        torch.testing.assert_close(out[i], math.sqrt(a) * x0[i] + math.sqrt(1 - a) * noise[i])
    torch.testing.assert_close(q_sample(x0, 999, ab, noise), q_sample(x0, torch.full((3,), 999), ab, noise))


def _posterior_by_bayes(x0, xt, t, betas):
    """Product of two scalar Gaussians: prior q(x_{t-1} | x_0) times likelihood q(x_t | x_{t-1})."""
    ab = [1.0] + alphas_cumprod(betas).tolist()  # ab[k] is alpha-bar after k steps; ab[0] = 1
    beta = betas[t].item()
    prior_mean, prior_var = math.sqrt(ab[t]) * x0, 1 - ab[t]
    precision = 1 / prior_var + (1 - beta) / beta  # likelihood in x_{t-1}: N(x_t | sqrt(1-beta) x_{t-1}, beta)
    mean = (prior_mean / prior_var + math.sqrt(1 - beta) * xt / beta) / precision
    return mean, 1 / precision


@pytest.mark.parametrize("t", [1, 10, 300, 999])
def test_ddpm_posterior_equals_bayes_rule_on_scalar_gaussians(t):
    betas = linear_betas()
    mean, var = posterior_mean_variance(torch.tensor([0.3]), torch.tensor([-0.8]), t, betas)
    want_mean, want_var = _posterior_by_bayes(0.3, -0.8, t, betas)
    assert math.isclose(mean.item(), want_mean, rel_tol=1e-5) and math.isclose(var.item(), want_var, rel_tol=1e-6)


def test_ddpm_posterior_matches_brute_force_monte_carlo():
    torch.manual_seed(0)
    betas, t, x0 = linear_betas(), 200, 0.5
    ab = alphas_cumprod(betas).float()
    x_prev = math.sqrt(ab[t - 1]) * x0 + math.sqrt(1 - ab[t - 1]) * torch.randn(400_000)  # q(x_{t-1} | x_0)
    xt = (1 - betas[t].float()).sqrt() * x_prev + betas[t].float().sqrt() * torch.randn(400_000)  # one more step
    # x_{t-1} given x_t is linear-Gaussian, so least squares recovers the posterior's mean and variance
    slope = ((xt - xt.mean()) * (x_prev - x_prev.mean())).mean() / xt.var()
    resid = x_prev - x_prev.mean() - slope * (xt - xt.mean())
    for probe in (-1.0, 0.0, 1.5):
        mean, var = posterior_mean_variance(torch.tensor([x0]), torch.tensor([probe]), t, betas)
        assert abs(x_prev.mean() + slope * (probe - xt.mean()) - mean.item()) < 0.01
        assert abs(resid.var() / var.item() - 1) < 0.02


def test_posterior_at_t0_returns_the_data():
    mean, var = posterior_mean_variance(torch.tensor([0.25]), torch.tensor([0.9]), 0, linear_betas())
    assert mean.item() == pytest.approx(0.25) and var.item() == 0


def test_karras_sigmas_follow_their_formula():
    sig = karras_sigmas(10, 0.002, 80.0, rho=7.0)
    assert sig[0].item() == pytest.approx(80.0) and sig[-1].item() == pytest.approx(0.002)
    steps = sig ** (1 / 7)  # evenly spaced in sigma^(1/rho): that is the whole definition
    gap = (0.002 ** (1 / 7) - 80 ** (1 / 7)) / 9
    torch.testing.assert_close(steps.diff(), torch.full((9,), gap, dtype=torch.float64))
    gaps = -sig.diff()
    assert (gaps > 0).all() and (gaps.diff() < 0).all()  # decreasing, with ever smaller gaps toward sigma_min
    torch.testing.assert_close(karras_sigmas(5, 1.0, 5.0, rho=1.0), torch.linspace(5, 1, 5, dtype=torch.float64))
    assert karras_sigmas(1, 0.1, 10.0).tolist() == [pytest.approx(10.0)]


def test_sigma_and_snr_conversions_agree():
    ab = alphas_cumprod(linear_betas())
    sig = sigmas_from_alphas_cumprod(ab)
    torch.testing.assert_close(alphas_cumprod_from_sigmas(sig), ab)
    torch.testing.assert_close(snr(ab), 1 / sig**2)
    assert (snr(ab).diff() < 0).all() and 0.009 < sig[0] < 0.011 and 150 < sig[-1] < 160


def test_timestep_and_sigma_maps_are_inverse_log_linear_interpolations():
    ab = alphas_cumprod(linear_betas())
    sig = sigmas_from_alphas_cumprod(ab)
    t = torch.tensor([0.0, 3.0, 10.25, 500.5, 998.9, 999.0], dtype=torch.float64)
    torch.testing.assert_close(timestep_from_sigma(sigma_from_timestep(t, ab), ab), t)
    assert sigma_from_timestep(3, ab).item() == pytest.approx(sig[3].item(), rel=1e-12)  # exact on the grid
    halfway = sigma_from_timestep(500.5, ab).item()
    assert halfway == pytest.approx(math.sqrt(sig[500].item() * sig[501].item()), rel=1e-12)  # geometric mean


def test_bad_input_gets_a_clear_error():
    ab = alphas_cumprod(linear_betas())
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        linear_betas(0)
    with pytest.raises(ValueError, match=r"betas must lie in \(0, 1\)"):
        alphas_cumprod(torch.tensor([0.1, 1.5]))
    with pytest.raises(ValueError, match="noise must have x0's shape"):
        q_sample(torch.zeros(2, 3), 5, ab, torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"in \[0, 999\]"):
        q_sample(torch.zeros(2, 3), 1000, ab, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="integer timestep"):
        q_sample(torch.zeros(2, 3), torch.tensor([1.5, 2.0]), ab, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="0 < sigma_min < sigma_max"):
        karras_sigmas(10, 5.0, 1.0)
    with pytest.raises(ValueError, match="schedule's range"):
        timestep_from_sigma(1000.0, ab)
    with pytest.raises(ValueError, match="strictly decrease"):
        timestep_from_sigma(1.0, ab.flip(0))
