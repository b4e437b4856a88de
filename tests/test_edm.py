"""EDM preconditioning (genlib.diffusion.edm), Min-SNR weighting and x0 clipping: formulas at known values, exact
denoisers that must come out as the exact noise on the samplers' DDPM grid, and the recipe options of train_ddpm."""
import math
import sys
from pathlib import Path

import pytest
import torch

from genlib.diffusion import alphas_cumprod, linear_betas, q_sample, sample, sigmas_from_alphas_cumprod
from genlib.diffusion.ddpm import (ClipX0, as_noise_predictor, min_snr_weight, noise_prediction_loss,
                                   v_prediction_loss, v_target)
from genlib.diffusion.edm import (EDMDenoiser, EpsFromEDM, edm_coefficients, edm_loss, edm_loss_weight,
                                  sample_sigmas)
from genlib.image.unet import UNet

AB = alphas_cumprod(linear_betas())
SIGMAS = sigmas_from_alphas_cumprod(AB)
T = torch.tensor([0, 10, 300, 700, 999])


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(len(T), 1, 8, 8, generator=g) * 2 - 1, torch.randn(len(T), 1, 8, 8, generator=g)


class Oracle(torch.nn.Module):
    """The network F whose preconditioned denoiser returns `x0` exactly (it reads sigma back from c_noise)."""

    def __init__(self, x0: torch.Tensor, sigma_data: float = 0.5):
        super().__init__()
        self.x0, self.sd = x0.double(), sigma_data

    def forward(self, x_in: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        c_skip, c_out, c_in, _ = edm_coefficients((c_noise.double() / 250).exp(), self.sd)
        x = x_in.double() / c_in.view(-1, 1, 1, 1)
        return ((self.x0 - c_skip.view(-1, 1, 1, 1) * x) / c_out.view(-1, 1, 1, 1)).to(x_in.dtype)


def test_coefficients_at_known_sigmas():
    c_skip, c_out, c_in, c_noise = edm_coefficients(torch.tensor([0.5, 1e4], dtype=torch.float64), 0.5)
    # sigma = sigma_data: half skip, c_out = 0.25 / sqrt(0.5), c_in = 1 / sqrt(0.5)
    torch.testing.assert_close(c_skip, torch.tensor([0.5, 0.25 / (1e8 + 0.25)], dtype=torch.float64))
    assert c_out[0].item() == pytest.approx(0.25 / math.sqrt(0.5)) and c_out[1].item() == pytest.approx(0.5, rel=1e-8)
    assert c_in[0].item() == pytest.approx(1 / math.sqrt(0.5)) and c_in[1].item() == pytest.approx(1e-4, rel=1e-8)
    torch.testing.assert_close(c_noise, 250 * torch.tensor([0.5, 1e4], dtype=torch.float64).log())
    # the training target (x0 - c_skip x) / c_out has unit variance for data of std sigma_data, at every sigma
    s = torch.logspace(-2, 2.2, 9, dtype=torch.float64)
    for sd in (0.5, 1.0):
        c_skip, c_out, c_in, _ = edm_coefficients(s, sd)
        torch.testing.assert_close((c_skip**2 * s**2 + (1 - c_skip) ** 2 * sd**2) / c_out**2, torch.ones_like(s))
        torch.testing.assert_close(c_in**2 * (sd**2 + s**2), torch.ones_like(s))  # the input has unit variance too


def test_loss_weight_is_one_over_c_out_squared_and_the_loss_uses_it():
    s = torch.tensor([0.01, 0.5, 3.0, 157.0], dtype=torch.float64)
    torch.testing.assert_close(edm_loss_weight(s), (s**2 + 0.25) / (0.5 * s) ** 2)
    torch.testing.assert_close(edm_loss_weight(s), 1 / edm_coefficients(s)[1] ** 2)
    x0, noise = _batch()
    sigma = SIGMAS[T]
    zero = lambda x, c: torch.zeros_like(x)  # F = 0: D = c_skip x  # noqa: E731
    c_skip = edm_coefficients(sigma)[0].view(-1, 1, 1, 1)
    per_item = ((c_skip * (x0.double() + sigma.view(-1, 1, 1, 1) * noise) - x0) ** 2).flatten(1).mean(1)
    expected = (edm_loss_weight(sigma) * per_item).mean()
    assert edm_loss(zero, x0, sigma=sigma, noise=noise).item() == pytest.approx(expected.item(), rel=1e-5)
    assert edm_loss(Oracle(x0), x0, sigma=sigma, noise=noise).item() < 1e-8


def test_the_adapter_turns_an_exact_denoiser_into_the_exact_noise_on_the_ddpm_grid():
    x0, noise = _batch(1)
    xt = q_sample(x0, T, AB, noise)
    eps = as_noise_predictor(Oracle(x0), AB, "edm")
    assert isinstance(eps, EpsFromEDM)
    torch.testing.assert_close(eps(xt, T), noise, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(eps(xt, T.float()), noise, rtol=1e-4, atol=1e-4)  # fractional-t path
    torch.testing.assert_close(EDMDenoiser(Oracle(x0))(x0 + 2.0 * noise, 2.0), x0, rtol=1e-5, atol=1e-5)
    # a sigma_data other than the default reaches the denoiser
    eps1 = as_noise_predictor(Oracle(x0, 1.0), AB, "edm", sigma_data=1.0)
    torch.testing.assert_close(eps1(xt, T), noise, rtol=1e-4, atol=1e-4)


def test_samplers_see_an_edm_model_through_the_one_interface():
    # data that is one image c: its exact denoiser is D = c at every sigma, so every sampler must land on c
    c = torch.linspace(-0.9, 0.9, 16).reshape(1, 1, 4, 4)
    eps = as_noise_predictor(Oracle(c.expand(3, -1, -1, -1)), AB, "edm")
    for name, karras in (("dpmpp_2m", True), ("euler", True), ("ddim", False)):
        out = sample(eps, (3, 1, 4, 4), name, 10, alphas_cumprod=AB, karras=karras,
                     generator=torch.Generator().manual_seed(0), progress=False).x
        torch.testing.assert_close(out, c.expand(3, -1, -1, -1), rtol=2e-3, atol=2e-3)


def test_sample_sigmas_mixes_the_log_normal_with_the_schedule():
    g = torch.Generator().manual_seed(0)
    log_s = sample_sigmas(20_000, generator=g).log()
    assert log_s.mean().item() == pytest.approx(-1.2, abs=0.03) and log_s.std().item() == pytest.approx(1.2, abs=0.03)
    assert (log_s.exp() > 20).float().mean() < 1e-3  # the log-normal alone never trains the schedule's top
    every = sample_sigmas(500, AB, schedule_share=1.0, generator=g)
    assert torch.isin(every, SIGMAS).all()
    mixed = sample_sigmas(20_000, AB, schedule_share=0.25, generator=g)
    share_high = (mixed > 20).float().mean().item()  # 25% x P(schedule sigma > 20) = 0.25 x ~0.28
    assert share_high == pytest.approx(0.25 * (SIGMAS > 20).double().mean().item(), abs=0.01)


def test_edm_bad_inputs_say_what_to_fix():
    x0, noise = _batch()
    with pytest.raises(ValueError, match="sigma must be finite and > 0"):
        edm_coefficients(torch.tensor([0.5, 0.0]))
    with pytest.raises(ValueError, match="sigma must be finite and > 0"):
        edm_loss_weight(float("nan"))
    with pytest.raises(ValueError, match="sigma_data must be a positive"):
        edm_coefficients(1.0, sigma_data=-0.5)
    with pytest.raises(ValueError, match="schedule_share is a probability"):
        sample_sigmas(4, AB, schedule_share=1.5)
    with pytest.raises(ValueError, match="needs the schedule's alphas_cumprod"):
        sample_sigmas(4, None, schedule_share=0.25)
    with pytest.raises(ValueError, match="x0 must be a batch"):
        edm_loss(Oracle(x0), torch.zeros(8), AB)
    with pytest.raises(ValueError, match="one noise level or one per image"):
        EDMDenoiser(Oracle(x0))(x0, torch.ones(3))
    with pytest.raises(ValueError, match="'eps', 'v' or 'edm'"):
        as_noise_predictor(Oracle(x0), AB, "x0")


def test_min_snr_weights_and_losses():
    t = torch.tensor([0, 200, 999])
    snr = AB[t] / (1 - AB[t])
    torch.testing.assert_close(min_snr_weight(AB, t, 5.0, "eps"), snr.clamp(max=5) / snr)
    torch.testing.assert_close(min_snr_weight(AB, t, 5.0, "v"), snr.clamp(max=5) / (snr + 1))
    assert min_snr_weight(AB, t, 5.0, "eps")[-1].item() == pytest.approx(1.0)  # noisy steps keep weight 1 on eps
    x0, noise = torch.rand(3, 1, 8, 8) * 2 - 1, torch.randn(3, 1, 8, 8)
    zero = lambda x, tt: torch.zeros_like(x)  # noqa: E731
    w = min_snr_weight(AB, t, 5.0, "v")
    expected = (w * v_target(x0, t, AB, noise).pow(2).flatten(1).mean(1)).mean()
    assert v_prediction_loss(zero, x0, AB, t=t, noise=noise, min_snr_gamma=5.0).item() == pytest.approx(
        expected.item(), rel=1e-5)
    w = min_snr_weight(AB, t, 5.0, "eps")
    assert noise_prediction_loss(zero, x0, AB, t=t, noise=noise, min_snr_gamma=5.0).item() == pytest.approx(
        (w * noise.pow(2).flatten(1).mean(1)).mean().item(), rel=1e-5)
    with pytest.raises(ValueError, match="gamma must be a positive"):
        min_snr_weight(AB, t, 0.0, "v")


def test_clip_x0_leaves_images_in_range_alone_and_clips_the_rest():
    x0, noise = _batch(2)
    xt = q_sample(x0, T, AB, noise)
    exact = lambda x, tt: noise  # noqa: E731
    torch.testing.assert_close(ClipX0(exact, AB)(xt, T), noise, rtol=1e-4, atol=1e-4)
    big = x0.sign() * 3  # outside [-1, 1]: the clipped model's noise is that of x0 = sign(x0)
    xt_big = q_sample(big, T, AB, noise)
    sab = AB[T].sqrt().view(-1, 1, 1, 1).float()
    expected = (xt_big - sab * big.clamp(-1, 1)) / (1 - sab**2).sqrt()
    torch.testing.assert_close(ClipX0(exact, AB)(xt_big, T), expected, rtol=1e-4, atol=1e-4)
    assert isinstance(as_noise_predictor(Oracle(x0), AB, "edm", clip_x0=True), ClipX0)


def test_train_ddpm_recipe_options():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from train_ddpm import SETTINGS, loss_function, recipe_settings
    shipped = recipe_settings("cpu-small")
    assert shipped == dict(SETTINGS["cpu-small"], seed=0, schedule="linear", timesteps=1000)  # unchanged by default
    edm = recipe_settings("cpu-small", prediction="edm", batch_size=128, model={"base_channels": 48}, lr=None)
    assert (edm["prediction"], edm["batch_size"], edm["model"]["base_channels"], edm["lr"]) == ("edm", 128, 48, 2e-3)
    assert edm["schedule_share"] == 0.25 and edm["sigma_data"] == 0.5
    tiny = dict(base_channels=8, groups=4, heads=2, time_dim=32)
    net = UNet(**tiny)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 1, 28, 28) * 2 - 1
    for settings in (edm, recipe_settings("cpu-small", min_snr_gamma=5.0)):
        assert torch.isfinite(loss_function(settings, AB, g)(net, x0))
    with pytest.raises(ValueError, match="EDM has its own weighting"):
        loss_function(dict(edm, min_snr_gamma=5.0), AB, g)
