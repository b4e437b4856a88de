"""Class conditioning and classifier-free guidance: the formula, where it may be applied, the zero start, errors."""
import pytest
import torch

from genlib.diffusion import alphas_cumprod, linear_betas
from genlib.diffusion.ddpm import EpsFromV, sample_images
from genlib.diffusion.edm import EpsFromEDM
from genlib.diffusion.guidance import Conditioned, Guided, drop_condition
from genlib.image.unet import UNet

AB = alphas_cumprod(linear_betas())
TINY = dict(base_channels=8, groups=4, heads=2, time_dim=32)


def conditional_unet(seed: int = 0) -> UNet:
    torch.manual_seed(seed)
    net = UNet(num_classes=10, **TINY)
    with torch.no_grad():  # give every weight (zero-initialised ones too) a value, so outputs depend on the labels
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net.eval()


def test_guided_is_u_plus_w_times_c_minus_u_in_one_batched_call():
    net, x, t = conditional_unet(), torch.randn(4, 1, 28, 28), torch.tensor([10, 200, 500, 900])
    y = torch.tensor([0, 3, 7, 9])
    with torch.no_grad():
        c, u = net(x, t, y), net(x, t, torch.full((4,), 10))
        assert not torch.allclose(c, u, atol=1e-3)  # the labels matter
        torch.testing.assert_close(Guided(net, y, 10, 1.0)(x, t), c)
        torch.testing.assert_close(Guided(net, y, 10, 0.0)(x, t), u)
        torch.testing.assert_close(Guided(net, y, 10, 3.0)(x, t), u + 3 * (c - u), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(Guided(net, y, 10, 2.0)(x, 500), u.new_zeros(()) + Guided(net, y, 10, 2.0)(
            x, torch.full((4,), 500)))  # one timestep for all = the same timestep for each
        torch.testing.assert_close(Conditioned(net, y)(x, t), c)
        torch.testing.assert_close(net(x, t), u)  # no labels = the "no label" class


@pytest.mark.parametrize("wrap", [lambda n: EpsFromV(n, AB), lambda n: EpsFromEDM(n, AB)])
def test_guiding_the_network_output_equals_guiding_the_noise(wrap):
    """eps is affine in the network's output at fixed x and t, so guidance commutes with the wrappers."""
    net, x, t, y = conditional_unet(1), torch.randn(3, 1, 28, 28), torch.tensor([50.0, 400.5, 990.0]), torch.tensor([1, 2, 5])
    with torch.no_grad():
        inside = wrap(Guided(net, y, 10, 4.0))(x, t)     # guide the raw output, then convert to noise
        outside = Guided(wrap(net), y, 10, 4.0)(x, t)    # convert to noise, then guide (the paper's form)
    torch.testing.assert_close(inside, outside, atol=1e-4, rtol=1e-4)


def test_a_zero_label_embedding_starts_as_the_unconditional_unet():
    torch.manual_seed(0)
    plain = UNet(**TINY)
    cond = UNet(num_classes=10, **TINY)
    missing = cond.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing == ["label_emb.weight"]
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([3, 700])
    with torch.no_grad():
        torch.testing.assert_close(cond(x, t, torch.tensor([4, 8])), plain(x, t))


def test_condition_dropout_replaces_the_asked_share():
    y = torch.arange(10).repeat(1000)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(drop_condition(y, 10, 0.0, g), y)
    assert (drop_condition(y, 10, 1.0, g) == 10).all()
    dropped = drop_condition(y, 10, 0.2, g)
    assert 0.18 < (dropped == 10).float().mean() < 0.22 and torch.equal(dropped[dropped != 10], y[dropped != 10])
    emb, null = torch.randn(500, 4, 8), torch.zeros(4, 8)   # text embeddings: rows become the null embedding
    out = drop_condition(emb, null, 0.5, g)
    rows = (out == 0).flatten(1).all(1)
    assert 0.4 < rows.float().mean() < 0.6 and torch.equal(out[~rows], emb[~rows])


def test_bad_guidance_and_labels_say_what_to_fix():
    net, x = conditional_unet(), torch.randn(2, 1, 28, 28)
    for bad in (-1.0, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="guidance scale must be a finite number >= 0"):
            Guided(net, torch.tensor([1, 2]), 10, bad)
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        net(x, 5, torch.tensor([1, 11]))
    with pytest.raises(ValueError, match="one integer label per image"):
        net(x, 5, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="unconditional"):
        UNet(**TINY)(x, 5, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="3 conditions for a batch of 2"):
        Guided(net, torch.tensor([1, 2, 3]), 10, 2.0)(x, 5)
    with pytest.raises(ValueError, match="drop probability"):
        drop_condition(torch.tensor([1]), 10, 1.5)
    with pytest.raises(ValueError, match="`null` condition"):
        sample_images(EpsFromV(net, AB), AB, 2, "ddim", 2, cond=torch.tensor([1, 2]), progress=False)


def test_guided_sampling_counts_two_evaluations_per_step():
    net = conditional_unet()
    images, nfe = sample_images(EpsFromV(net, AB), AB, 4, "ddim", 3, cond=torch.tensor([0, 1, 2, 3]), null=10,
                                guidance=2.0, progress=False)
    _, nfe_plain = sample_images(EpsFromV(net, AB), AB, 4, "ddim", 3, cond=torch.tensor([0, 1, 2, 3]), null=10,
                                 progress=False)
    assert images.shape == (4, 1, 28, 28) and nfe == 2 * nfe_plain == 6
