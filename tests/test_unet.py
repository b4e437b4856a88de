"""The U-Net noise predictor and DDPM's training pieces: shapes, time conditioning, learning, EMA, clear errors."""
import pytest
import torch

from genlib.diffusion import alphas_cumprod, linear_betas, q_sample
from genlib.diffusion.ddpm import (EpsFromV, as_noise_predictor, noise_prediction_loss, sample_images,
                                  v_prediction_loss, v_target)
from genlib.image.unet import UNet, UNetConfig, count_parameters, timestep_embedding
from genlib.train import EMA

AB = alphas_cumprod(linear_betas())
TINY = dict(base_channels=8, groups=4, heads=2, time_dim=32)  # small enough to train in a test


def test_default_unet_is_cpu_sized_and_keeps_the_image_shape():
    model = UNet()
    assert 0.4e6 < count_parameters(model) < 2e6 and count_parameters(model) * 4 < 20e6  # float32 bytes
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        assert model(x, torch.tensor([0, 500, 999])).shape == x.shape
    other = UNet(in_channels=3, channel_mults=(1, 2, 2), patch_size=1, **TINY)
    with torch.no_grad():
        assert other(torch.randn(2, 3, 16, 12), 7).shape == (2, 3, 16, 12)


def test_timestep_embedding_is_sinusoidal_and_smooth_in_t():
    emb = timestep_embedding(torch.tensor([0.0, 10.0, 10.5, 11.0]), 16)
    assert emb.shape == (4, 16)
    torch.testing.assert_close(emb[0], torch.cat([torch.zeros(8), torch.ones(8)]))  # sin 0 = 0, cos 0 = 1
    assert emb[1, 0] == pytest.approx(torch.sin(torch.tensor(10.0)).item(), abs=1e-6)  # frequency 1 first
    mid = (emb[1] + emb[3]) / 2
    assert (emb[2] - mid).abs().max() < 0.15 < (emb[1] - emb[3]).abs().max()  # t = 10.5 lies between its neighbours


def _trained_a_little():
    torch.manual_seed(0)
    model = UNet(**TINY)
    for p in model.parameters():  # leave the zero initialisation so that t can change the output in a fresh model
        if p.dim() > 1 and p.abs().sum() == 0:
            torch.nn.init.normal_(p, std=0.05)
    return model


def test_float_and_int_timesteps_give_finite_outputs_that_depend_on_t():
    model = _trained_a_little().eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        out_int = model(x, torch.tensor([300, 300]))
        out_float = model(x, torch.tensor([300.0, 300.0]))
        out_frac = model(x, torch.tensor([300.4, 300.4]))
        out_far = model(x, 800)
    assert all(torch.isfinite(o).all() for o in (out_int, out_float, out_frac, out_far))
    torch.testing.assert_close(out_int, out_float)  # an int t and the same float t are the same input
    assert (out_frac - out_int).abs().max() > 1e-6  # a fractional t is seen, not rounded away
    assert (out_far - out_int).abs().max() > 3 * (out_frac - out_int).abs().max()  # far apart in t: bigger change


def test_a_few_optimizer_steps_reduce_the_denoising_loss():
    torch.manual_seed(0)
    model = UNet(**TINY)
    x0 = torch.rand(8, 1, 12, 12).round() * 2 - 1  # a tiny fixed batch
    t, noise = torch.randint(0, 1000, (8,)), torch.randn(8, 1, 12, 12)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = noise_prediction_loss(model, x0, AB, t=t, noise=noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(noise.pow(2).mean().item(), rel=1e-5)  # a fresh model predicts zero noise
    assert losses[-1] < 0.8 * losses[0]


def test_noise_prediction_loss_is_the_mse_of_the_noise_guess():
    x0, noise, t = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8), torch.tensor([0, 10, 500, 999])
    seen = {}

    def model(xt, tt):
        seen["xt"], seen["t"] = xt, tt
        return torch.zeros_like(xt) + 0.5

    loss = noise_prediction_loss(model, x0, AB, t=t, noise=noise)
    torch.testing.assert_close(seen["xt"], q_sample(x0, t, AB, noise))
    assert torch.equal(seen["t"], t)
    assert loss.item() == pytest.approx(((noise - 0.5) ** 2).mean().item(), rel=1e-6)
    g = [torch.Generator().manual_seed(3) for _ in range(2)]
    assert noise_prediction_loss(model, x0, AB, generator=g[0]) == noise_prediction_loss(model, x0, AB, generator=g[1])


def test_v_prediction_turns_back_into_the_exact_noise():
    x0, noise, t = torch.randn(5, 1, 4, 4), torch.randn(5, 1, 4, 4), torch.tensor([0, 1, 500, 998, 999])
    xt = q_sample(x0, t, AB, noise)
    v = v_target(x0, t, AB, noise)
    a = AB[t].reshape(-1, 1, 1, 1).float()
    torch.testing.assert_close(v, a.sqrt() * noise - (1 - a).sqrt() * x0)
    # v and eps are two views of one thing: an exact v gives back the exact noise, at integer or float t
    oracle = EpsFromV(lambda x, tt: v, AB)
    torch.testing.assert_close(oracle(xt, t), noise, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(oracle(xt, t.float()), noise, rtol=1e-5, atol=1e-5)
    assert v_prediction_loss(lambda x, tt: v, x0, AB, t=t, noise=noise).item() < 1e-12
    assert v_prediction_loss(lambda x, tt: torch.zeros_like(x), x0, AB, t=t, noise=noise).item() == pytest.approx(
        v.pow(2).mean().item(), rel=1e-6)
    # at the noisiest step a v-network that knows nothing still predicts the noise almost exactly (eps ~ x_t)
    clueless = EpsFromV(lambda x, tt: torch.zeros_like(x), AB)(xt[-1:], t[-1:])
    assert (clueless - noise[-1:]).pow(2).mean() < 1e-3
    net = torch.nn.Identity()
    assert as_noise_predictor(net, AB, "eps") is net and isinstance(as_noise_predictor(net, AB, "v"), EpsFromV)
    with pytest.raises(ValueError, match="'eps', 'v' or 'edm'"):
        as_noise_predictor(net, AB, "x0")


def test_ema_follows_the_weights_slowly():
    model = torch.nn.Linear(2, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        model.weight.fill_(1.0)
    for _ in range(100):
        ema.update(model)
    # warm-up decay (1 + n) / (10 + n) first, then 0.9: the shadow approaches 1 but only geometrically
    assert 0.99 < ema.model.weight.min().item() < 1.0
    ema2 = EMA(torch.nn.Linear(2, 1), decay=0.999)
    assert not ema2.model.weight.requires_grad
    with pytest.raises(ValueError, match="decay must lie in"):
        EMA(model, decay=1.0)


def test_bad_input_gets_a_clear_error():
    model = UNet(**TINY)
    with pytest.raises(ValueError, match=r"x must be \[N, 1, H, W\] with H and W divisible by 4.*unsqueeze"):
        model(torch.randn(2, 28, 28), 3)
    with pytest.raises(ValueError, match=r"divisible by 4, got 30x30: resize with F.interpolate\(x, size=\(32, 32\)"):
        model(torch.randn(2, 1, 30, 30), 3)
    with pytest.raises(ValueError, match=r"3 colour channels.*mean\(1, keepdim=True\)") as err:
        model(torch.randn(2, 3, 28, 28), 3)
    assert "unsqueeze" not in str(err.value)                    # each mistake gets its own fix
    assert model(torch.randn(2, 1, 32, 32), 3).shape == (2, 1, 32, 32)   # any multiple of 4 is fine
    with pytest.raises(ValueError, match=r"one timestep or one per image \(2\)"):
        model(torch.randn(2, 1, 28, 28), torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="divisible by heads"):
        UNet(base_channels=8, heads=3, groups=4)
    with pytest.raises(ValueError, match="patch_size must be >= 1"):
        UNet(patch_size=0)
    with pytest.raises(ValueError, match="alphas_cumprod must strictly decrease"):
        noise_prediction_loss(model, torch.randn(2, 1, 28, 28), AB.flip(0))
    assert UNet(UNetConfig(**TINY).to_dict()).config == UNetConfig(**TINY)  # a manifest's dict rebuilds the model


def test_sample_images_starts_every_sampler_from_the_same_noise_and_returns_pixels():
    first_inputs = {}

    def model(x, t):
        if t[0] > 998:  # the first step of each batch
            first_inputs.setdefault(name, []).append(x.clone())
        return 0.1 * x

    x_T = torch.randn(5, 1, 4, 4, generator=torch.Generator().manual_seed(7))
    for name in ("ddim", "euler"):
        images, nfe = sample_images(model, AB, 5, name, 3, seed=7, batch_size=2, image_shape=(1, 4, 4),
                                    device="cpu", progress=False)
        assert images.shape == (5, 1, 4, 4) and nfe == 3 and 0 <= images.min() and images.max() <= 1
        assert len(first_inputs[name]) == 3  # three batches: 2 + 2 + 1
        torch.testing.assert_close(torch.cat(first_inputs[name]), x_T, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="n and batch_size must be >= 1"):
        sample_images(model, AB, 0, device="cpu")
