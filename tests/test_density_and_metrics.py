import math

import pytest
import torch

from genlib import density, metrics
from genlib.data import ring_of_gaussians
from genlib.image import MLP


def test_sharpen_temperature():
    p = torch.tensor([0.5, 0.3, 0.2])
    assert torch.allclose(density.sharpen(p, 1.0), p)
    assert density.sharpen(p, 0.01)[0] > 0.999
    assert torch.allclose(density.sharpen(p, 1e6), torch.full((3,), 1 / 3), atol=1e-4)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        density.sharpen(p, 0)


def test_histogram_density_integrates_to_one_and_samples_inside_bins():
    x = ring_of_gaussians(5000, std=0.1)
    h = density.Histogram2D(bins=40, lim=3).fit(x)
    xs = torch.linspace(-3 + h.width / 2, 3 - h.width / 2, 40)
    centres = torch.stack(torch.meshgrid(xs, xs, indexing="ij"), -1).reshape(-1, 2)
    assert h.log_prob(centres).exp().sum() * h.width**2 == pytest.approx(1.0, abs=1e-4)
    s = h.sample(2000, generator=torch.Generator().manual_seed(0))
    assert (s.norm(dim=1) - 2).abs().mean() < 0.15


def test_em_recovers_a_known_mixture():
    g = torch.Generator().manual_seed(0)
    true_means = torch.tensor([[-3.0, 0.0], [3.0, 1.0]])
    k = (torch.rand(4000, generator=g) < 0.3).long()
    x = true_means[k] + 0.5 * torch.randn(4000, 2, generator=g)
    gmm = density.fit_gmm(x, 2, iters=50)
    order = gmm.means[:, 0].argsort()
    assert torch.allclose(gmm.means[order], true_means, atol=0.1)
    assert torch.allclose(gmm.weights[order], torch.tensor([0.7, 0.3]), atol=0.03)  # k=1 (mean [3, 1]) has p=0.3
    assert torch.allclose(gmm.covs[order], 0.25 * torch.eye(2).expand(2, 2, 2), atol=0.04)


def test_em_never_decreases_likelihood():
    x = ring_of_gaussians(1000)
    gmm = density.fit_gmm(x, 8, iters=1)
    lls = []
    for _ in range(15):
        gmm = density.em_step(x, gmm)
        lls.append(gmm.log_prob(x).mean().item())
    assert all(b >= a - 1e-4 for a, b in zip(lls, lls[1:]))


def test_gmm_log_prob_matches_closed_form_for_one_gaussian():
    gmm = density.GaussianMixture(torch.ones(1), torch.zeros(1, 2), torch.eye(2)[None])
    x = torch.tensor([[1.0, 2.0]])
    assert gmm.log_prob(x).item() == pytest.approx(-math.log(2 * math.pi) - 2.5)
    s = gmm.sample(20000, temperature=0.25, generator=torch.Generator().manual_seed(0))
    assert s.std(0).mean().item() == pytest.approx(0.5, abs=0.02)


def test_bernoulli_mixture_log_prob_and_fit():
    mix = density.BernoulliMixture(torch.tensor([1.0]), torch.tensor([[0.9, 0.2]]))
    assert mix.log_prob(torch.tensor([[1.0, 0.0]])).item() == pytest.approx(math.log(0.9 * 0.8), abs=1e-4)
    protos = torch.tensor([[1.0] * 5 + [0.0] * 5, [0.0] * 5 + [1.0] * 5])
    x = protos[torch.arange(400) % 2]
    fit = density.fit_bernoulli_mixture(x, 2, iters=20)
    assert sorted(fit.weights.tolist()) == pytest.approx([0.5, 0.5], abs=0.01)
    assert fit.log_prob(x).mean() > -math.log(2) - 0.2
    with pytest.raises(ValueError, match="binarize"):
        density.fit_bernoulli_mixture(torch.rand(10, 4), 2)


def test_nearest_neighbour_distance_brute_force():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(30, 5, generator=g), torch.randn(40, 5, generator=g)
    brute = torch.tensor([min((x - y).norm() for y in b) for x in a])
    assert torch.allclose(metrics.nearest_neighbour_distance(a, b, chunk=7), brute, atol=1e-5)
    assert metrics.nearest_neighbour_distance(b[:5], b).abs().max() < 1e-3  # copies are at distance 0
    digits = torch.rand(50, 784, generator=g)  # MNIST-sized vectors, where float32's shortcut lost ~1e-3
    assert metrics.nearest_neighbour_distance(digits[:10], digits).abs().max() < 1e-5
    with pytest.raises(ValueError, match="features"):
        metrics.nearest_neighbour_distance(torch.randn(2, 3), torch.randn(2, 4))


def test_nats_to_bits():
    assert metrics.nats_to_bits(math.log(2)) == pytest.approx(1.0)


def test_mlp_shapes():
    net = MLP([784, 32, 10])
    assert net(torch.randn(5, 1, 28, 28)).shape == (5, 10)
    assert sum(isinstance(m, torch.nn.ReLU) for m in net) == 1
    with pytest.raises(ValueError):
        MLP([3])


def test_kmeans_pp_spreads_centres_over_all_ring_modes():
    x = ring_of_gaussians(2000, modes=8, std=0.1)
    for seed in range(5):
        gmm = density.fit_gmm(x, 8, iters=30, seed=seed)
        angles = torch.atan2(gmm.means[:, 1], gmm.means[:, 0])
        assert len(torch.unique(torch.round(angles / (2 * torch.pi / 8)) % 8)) == 8
