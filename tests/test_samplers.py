"""Samplers, checked where the answer is known: Gaussian data, whose exact noise predictor has a closed form.

If x_0 ~ N(mu, s^2) per dimension and x_t = sqrt(a) x_0 + sqrt(1 - a) eps (a = alpha-bar at t), then x_t and eps are
jointly Gaussian with Cov(eps, x_t) = sqrt(1 - a) and Var(x_t) = a s^2 + 1 - a, so the best prediction of the noise is
    eps*(x_t, t) = E[eps | x_t] = sqrt(1 - a) (x_t - sqrt(a) mu) / (a s^2 + 1 - a).
In the sigma view (x = x_0 + sigma eps) the probability-flow ODE is dx/dsigma = (x - mu) sigma / (s^2 + sigma^2), so
x - mu grows like sqrt(s^2 + sigma^2): every ODE solve has an exact answer to compare with.
Sizes stay under torch's 32,768-element threading grain so the tests are quick on a busy 2-core machine.
"""
import math

import pytest
import torch

from genlib.diffusion import (SAMPLERS, alphas_cumprod, alphas_cumprod_from_sigmas, ddim_sigma, linear_betas,
                              posterior_mean_variance, sample, sigma_from_timestep, sigma_grid,
                              sigmas_from_alphas_cumprod, timestep_from_sigma, timestep_grid)

BETAS = linear_betas()
AB = alphas_cumprod(BETAS)
MU, S = torch.tensor([0.5, -1.0]), torch.tensor([0.5, 1.5])


def level(t):
    """alpha-bar at the model's timestep: a table look-up for integer t, log-sigma interpolation for fractional t."""
    assert t.shape == (t.numel(),) and (t == t[0]).all()  # samplers give every item the same t, so use one
    t = t[0]
    return (AB[t] if not t.is_floating_point() else alphas_cumprod_from_sigmas(sigma_from_timestep(t, AB))).item()


def exact_eps(x, t):
    a = level(t)
    return math.sqrt(1 - a) * (x - math.sqrt(a) * MU) / (a * S**2 + 1 - a)


def test_exact_predictor_is_the_conditional_mean_of_the_noise():
    g = torch.Generator().manual_seed(0)
    x0 = MU + S * torch.randn(16_000, 2, generator=g)
    eps = torch.randn(16_000, 2, generator=g)
    t = torch.full((16_000,), 300)
    a = AB[300].float()
    xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
    pred = exact_eps(xt, t)
    # the residual of a conditional mean is uncorrelated with what it conditions on, and has the smallest error
    assert ((eps - pred) * (xt - xt.mean(0))).mean(0).abs().max() < 0.02
    assert ((eps - pred) ** 2).mean() < ((eps - 0.9 * pred) ** 2).mean()
    assert ((eps - pred) ** 2).mean() < ((eps - 1.1 * pred) ** 2).mean()


# steps (and spacing) at which each sampler is within a few % with the exact predictor: the first-order ones need
# more, the ancestral ones also carry DDPM's small-variance bias (about -1% at 1000 steps), the 2nd-order ones 50
SETTINGS = {"ddpm": (1000, False), "ddim": (200, False), "euler": (200, True), "euler_ancestral": (1000, True),
            "heun": (50, True), "dpmpp_2m": (50, True)}


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_draws_the_gaussian_data_distribution(name):
    steps, karras = SETTINGS[name]
    out = sample(exact_eps, (16_000, 2), name, steps, alphas_cumprod=AB, karras=karras,
                 generator=torch.Generator().manual_seed(1), progress=False)
    assert out.x.shape == (16_000, 2) and out.nfe == (2 * steps - 1 if name == "heun" else steps)
    assert ((out.x.mean(0) - MU) / S).abs().max() < 0.03, out.x.mean(0)
    assert (out.x.std(0) / S - 1).abs().max() < 0.03, out.x.std(0)


def _final_step_std(s, sigma_last):
    """The std the exact ODE solve gives on a grid whose last level before 0 is sigma_last: the ODE keeps the
    data's std s down to sigma_last, then the final first-order step x <- E[x_0 | x] shrinks x - mu by
    s^2 / (s^2 + sigma^2)."""
    return s**2 / (s**2 + sigma_last**2).sqrt()


SECOND_ORDER = [("heun", False), ("heun", True), ("dpmpp_2m", False), ("dpmpp_2m", True)]


@pytest.mark.parametrize("name,karras", SECOND_ORDER)
def test_second_order_samplers_draw_the_exact_std_at_20_steps(name, karras):
    """At 20 steps every second-order deterministic sampler is within 6% of the exact std on its own grid.

    DPM++ 2M's old grid (Euler's, ending at t = 0) fails this: its second-order step from sigma 0.38 to 0.01
    (h = 3.6) overshoots the std by some 15-30%. On DPM-Solver's own grid the last level is t = 50 (sigma 0.17),
    whose final denoising step is part of the method, so the target there is a little below s."""
    x_T = torch.randn(16_000, 2, generator=torch.Generator().manual_seed(1))
    x_T = (x_T - x_T.mean(0)) / x_T.std(0)  # exactly unit std, so the ratio below is the sampler's alone
    out = sample(exact_eps, (16_000, 2), name, 20, alphas_cumprod=AB, karras=karras, x_T=x_T, progress=False)
    sigma_last = sigma_grid(AB, 20, karras, dpm_solver=name == "dpmpp_2m")[-2]
    assert (out.x.std(0) / _final_step_std(S, sigma_last) - 1).abs().max() < 0.06, out.x.std(0)


def test_dpmpp_2m_grid_is_diffusers_dpm_solver_linspace_grid():
    """Without Karras sigmas DPM++ 2M visits DPMSolverMultistepScheduler's timesteps (timestep_spacing 'linspace'):
    np.linspace(0, T - 1, steps + 1).round()[::-1][:-1], then sigma = 0; Euler keeps its T-1 .. 0 grid."""
    np = pytest.importorskip("numpy")
    for steps in (1, 3, 10, 20, 37, 50, 999, 1000):
        levels = sigma_grid(AB, steps, dpm_solver=True)
        t = timestep_from_sigma(levels[:-1], AB)
        expected = np.linspace(0, 999, steps + 1).round()[::-1][:-1].copy()
        torch.testing.assert_close(t, torch.from_numpy(expected), atol=1e-6, rtol=0)
        assert levels[-1] == 0 and len(levels) == steps + 1
    assert timestep_from_sigma(sigma_grid(AB, 10, dpm_solver=True)[-2], AB).item() == pytest.approx(100)
    assert timestep_from_sigma(sigma_grid(AB, 10)[-2], AB).item() == pytest.approx(0, abs=1e-6)


def test_too_few_steps_get_the_variance_wrong():
    """The check above has teeth: 10 Euler steps shrink the spread by about a quarter."""
    out = sample(exact_eps, (16_000, 2), "euler", 10, alphas_cumprod=AB, generator=torch.Generator().manual_seed(1),
                 progress=False)
    assert (out.x.std(0) / S - 1).min() < -0.15


def _exact_ode_endpoint(x_T):
    """Where the exact probability-flow ODE takes x_T: sigma_max -> sigma_min in closed form, then the final
    first-order step every sampler takes, x <- E[x_0 | x] = mu + s^2 / (s^2 + sigma_min^2) (x - mu)."""
    sig = sigmas_from_alphas_cumprod(AB)
    s_max, s_min = sig[-1].item(), sig[0].item()
    y = x_T * math.sqrt(1 + s_max**2) - MU
    y = y * (S**2 + s_min**2).sqrt() / (S**2 + s_max**2).sqrt()
    return MU + S**2 / (S**2 + s_min**2) * y


def test_second_order_samplers_converge_faster_than_euler():
    x_T = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    exact = _exact_ode_endpoint(x_T)
    ratio = {}
    for name in ("euler", "heun", "dpmpp_2m"):
        err = [(sample(exact_eps, (2000, 2), name, n, alphas_cumprod=AB, karras=True, x_T=x_T, progress=False).x
                - exact).abs().max().item() for n in (40, 80)]
        ratio[name] = err[0] / err[1]
    assert 1.7 < ratio["euler"] < 2.3  # first order: twice the steps, half the error
    assert ratio["heun"] > 3.5 and ratio["dpmpp_2m"] > 3.5  # second order: a quarter


def test_ddim_eta0_is_deterministic_and_depends_only_on_x_T():
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    runs = [sample(exact_eps, (64, 2), "ddim", 20, alphas_cumprod=AB, x_T=x_T, progress=False,
                   generator=torch.Generator().manual_seed(seed)).x for seed in (1, 2)]
    assert torch.equal(runs[0], runs[1])
    other = sample(exact_eps, (64, 2), "ddim", 20, alphas_cumprod=AB, x_T=-x_T, progress=False).x
    assert (other - runs[0]).abs().max() > 0.1
    noisy = [sample(exact_eps, (64, 2), "ddim", 20, alphas_cumprod=AB, x_T=x_T, eta=1.0, progress=False,
                    generator=torch.Generator().manual_seed(seed)).x for seed in (1, 2)]
    assert (noisy[0] - noisy[1]).abs().max() > 0.1  # with eta = 1 the fresh noise matters


def test_ddim_eta1_step_variance_is_the_ddpm_posterior_variance():
    _, var = posterior_mean_variance(torch.zeros(1000), torch.zeros(1000), torch.arange(1000), BETAS)
    ab_prev = [1.0] + AB[:-1].tolist()
    ddim_var = torch.tensor([ddim_sigma(AB[t].item(), ab_prev[t], 1.0) ** 2 for t in range(1000)])
    torch.testing.assert_close(ddim_var, var.squeeze().double(), rtol=1e-5, atol=0, check_dtype=False)
    assert ddim_sigma(AB[500].item(), AB[499].item(), 0.5) ** 2 == pytest.approx(var[500].item() / 4, rel=1e-5)


@pytest.mark.parametrize("steps", [1000, 37])
def test_ddpm_is_ddim_with_eta_1(steps):
    kw = dict(alphas_cumprod=AB, progress=False, x_T=torch.randn(8, 2, generator=torch.Generator().manual_seed(0)))
    a = sample(exact_eps, (8, 2), "ddpm", steps, generator=torch.Generator().manual_seed(5), **kw)
    b = sample(exact_eps, (8, 2), "ddim", steps, eta=1.0, generator=torch.Generator().manual_seed(5), **kw)
    torch.testing.assert_close(a.x, b.x, rtol=1e-4, atol=1e-4)
    assert a.timesteps.tolist() == timestep_grid(1000, steps).tolist()


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_is_euler_ancestral_in_the_sigma_view(eta):
    """With T = 1000 and 10 steps both grids are t = 999, 888, ..., 0: the samplers are the same maths."""
    kw = dict(alphas_cumprod=AB, progress=False, x_T=torch.randn(8, 2, generator=torch.Generator().manual_seed(0)))
    a = sample(exact_eps, (8, 2), "ddim", 10, eta=eta, generator=torch.Generator().manual_seed(3), **kw)
    b = sample(exact_eps, (8, 2), "euler_ancestral", 10, eta=eta, generator=torch.Generator().manual_seed(3), **kw)
    torch.testing.assert_close(a.x, b.x, rtol=1e-4, atol=1e-4)
    if eta == 0:
        c = sample(exact_eps, (8, 2), "euler", 10, **kw)
        torch.testing.assert_close(a.x, c.x, rtol=1e-4, atol=1e-4)


def test_dpmpp_2m_equals_the_paper_worked_by_hand():
    """Three steps of Lu et al. (2022) DPM-Solver++(2M), Algorithm 2, in the model's own (VP) variables:
    alpha_t = sqrt(ab), sigma_t = sqrt(1 - ab), lambda_t = log(alpha_t / sigma_t), h_i = lambda_i - lambda_{i-1},
    x_i = (sigma_i / sigma_{i-1}) x_{i-1} - alpha_i (e^{-h_i} - 1) D_i, with D_1 = x0_0 and, for i >= 2,
    D_i = (1 + 1 / (2 r_i)) x0_{i-1} - 1 / (2 r_i) x0_{i-2}, r_i = h_{i-1} / h_i. The last step (to sigma = 0) is
    first order: x = x0_{M-1}."""
    x_T = torch.randn(6, 2, generator=torch.Generator().manual_seed(0)).double()
    levels = sigma_grid(AB, 3, dpm_solver=True)[:-1]  # the three levels dpmpp_2m visits (sigma view), then 0
    ab = alphas_cumprod_from_sigmas(levels)
    alpha, sigma = ab.sqrt(), (1 - ab).sqrt()
    lam = (alpha / sigma).log()
    mu, s = MU.double(), S.double()

    def x0_pred(x, i):  # the exact x_0 prediction at level i, from the exact noise prediction
        eps = sigma[i] * (x - alpha[i] * mu) / (ab[i] * s**2 + 1 - ab[i])
        return (x - sigma[i] * eps) / alpha[i]

    x, preds = x_T, []
    for i in (1, 2):
        preds.append(x0_pred(x, i - 1))
        h = lam[i] - lam[i - 1]
        if i == 1:
            D = preds[0]
        else:
            r = (lam[i - 1] - lam[i - 2]) / h
            D = (1 + 1 / (2 * r)) * preds[-1] - 1 / (2 * r) * preds[-2]
        x = sigma[i] / sigma[i - 1] * x - alpha[i] * torch.expm1(-h) * D
    by_hand = x0_pred(x, 2)
    lib = sample(exact_eps, (6, 2), "dpmpp_2m", 3, alphas_cumprod=AB, x_T=x_T.float(), progress=False)
    torch.testing.assert_close(lib.x.double(), by_hand, rtol=1e-4, atol=1e-4)
    first_order = sample(exact_eps, (6, 2), "euler", 3, alphas_cumprod=AB, x_T=x_T.float(), progress=False)
    assert (first_order.x.double() - by_hand).abs().max() > 1e-2  # the check can tell the methods apart


def test_sigma_samplers_call_the_model_at_the_grid_timesteps():
    seen = []
    model = lambda x, t: (seen.append(t), torch.zeros_like(x))[1]  # noqa: E731
    out = sample(model, (3, 2), "heun", 4, alphas_cumprod=AB, karras=True, progress=False)
    assert out.nfe == 7 == len(seen) and all(t.shape == (3,) and t.dtype == torch.float32 for t in seen)
    assert seen[0][0].item() == pytest.approx(999) and seen[-1][0].item() == pytest.approx(0, abs=1e-4)
    sample(model, (3, 2), "ddim", 4, alphas_cumprod=AB, progress=False)
    assert [t[0].item() for t in seen[7:]] == [999, 666, 333, 0] and seen[-1].dtype == torch.int64
    sample(model, (3, 2), "dpmpp_2m", 4, alphas_cumprod=AB, progress=False)  # DPM-Solver's grid stops above t = 0
    assert [t[0].item() for t in seen[11:]] == pytest.approx([999, 749, 500, 250], abs=1e-3)


def test_clip_denoised_keeps_predictions_in_range_and_callback_sees_each_step():
    big = lambda x, t: -torch.ones_like(x) * 3  # noqa: E731  (a bad model whose x_0 guesses are far too large)
    steps_seen = []
    out = sample(big, (4, 2), "dpmpp_2m", 5, alphas_cumprod=AB, clip_denoised=1.0, progress=False,
                 callback=lambda i, x, x0: steps_seen.append((i, x0.abs().max().item())))
    assert [i for i, _ in steps_seen] == [0, 1, 2, 3, 4] and max(m for _, m in steps_seen) <= 1.0
    assert out.x.abs().max() <= 1.0 + 1e-5


def test_bad_input_gets_a_clear_error():
    kw = dict(alphas_cumprod=AB, progress=False)
    with pytest.raises(ValueError, match="unknown sampler 'dpm'.*ddpm, ddim, euler, euler_ancestral, heun, dpmpp_2m"):
        sample(exact_eps, (2, 2), "dpm", **kw)
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        sample(exact_eps, (2, 2), "euler", 0, **kw)
    with pytest.raises(ValueError, match=r"eta must lie in \[0, 1\]"):
        sample(exact_eps, (2, 2), "ddim", 10, eta=1.5, **kw)
    with pytest.raises(ValueError, match="eta only applies to ddim and euler_ancestral"):
        sample(exact_eps, (2, 2), "heun", 10, eta=0.5, **kw)
    with pytest.raises(ValueError, match="karras=True applies to the sigma samplers"):
        sample(exact_eps, (2, 2), "ddim", 10, karras=True, **kw)
    with pytest.raises(ValueError, match=r"steps in \[1, 1000\]"):
        sample(exact_eps, (2, 2), "ddpm", 1001, **kw)
    with pytest.raises(ValueError, match=r"x_T has shape \(3, 2\) but shape=\(2, 2\)"):
        sample(exact_eps, (2, 2), "ddim", 10, x_T=torch.zeros(3, 2), **kw)
    with pytest.raises(ValueError, match="predicted noise shaped like x_t"):
        sample(lambda x, t: x[:, :1], (2, 2), "euler", 10, **kw)
    with pytest.raises(ValueError, match="strictly decrease"):
        sample(exact_eps, (2, 2), "euler", 10, alphas_cumprod=AB.flip(0), progress=False)
