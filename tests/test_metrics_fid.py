"""FID without Inception: the Fréchet distance against closed forms, and FID on the shipped MNIST classifier."""
import pytest
import torch
import torch.nn.functional as F

from genlib import metrics
from genlib.checkpoints import checkpoint_dir, read_manifest
from genlib.data.files import sha256_file
from genlib.data import load_mnist
from genlib.image.classifier import MnistClassifier, accuracy, check_mnist_images, random_shift


def _random_cov(d, g):
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def test_frechet_distance_closed_form_for_diagonal_covariances():
    g = torch.Generator().manual_seed(0)
    mu1, mu2 = torch.randn(6, generator=g, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)
    s1, s2 = torch.rand(6, generator=g, dtype=torch.float64) + 0.1, torch.rand(6, generator=g, dtype=torch.float64) + 0.1
    expected = (mu1 - mu2).pow(2).sum() + (s1 - s2).pow(2).sum()  # commuting covariances: the formula separates
    got = metrics.frechet_distance(mu1, torch.diag(s1**2), mu2, torch.diag(s2**2))
    assert got == pytest.approx(expected.item(), rel=1e-9)
    # one dimension: (m1 - m2)^2 + (s1 - s2)^2
    assert metrics.frechet_distance(torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([-2.0]),
                                    torch.tensor([[9.0]])) == pytest.approx(9 + 1)


def test_frechet_distance_non_commuting_matches_brute_force_matrix_sqrt():
    g = torch.Generator().manual_seed(1)
    d = 8
    mu1, mu2 = torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
    c1, c2 = _random_cov(d, g), _random_cov(d, g)
    assert not torch.allclose(c1 @ c2, c2 @ c1)  # a genuinely non-commuting case
    # brute force: sqrt(c1 c2) from the (non-symmetric) eigendecomposition, checked by squaring it back
    lam, v = torch.linalg.eig(c1 @ c2)
    root = v @ torch.diag(lam.sqrt()) @ torch.linalg.inv(v)
    torch.testing.assert_close(root @ root, (c1 @ c2).to(root.dtype))
    expected = (mu1 - mu2).pow(2).sum() + c1.trace() + c2.trace() - 2 * root.trace().real
    assert metrics.frechet_distance(mu1, c1, mu2, c2) == pytest.approx(expected.item(), rel=1e-9)


def test_frechet_distance_is_zero_for_identical_stats_and_symmetric():
    g = torch.Generator().manual_seed(2)
    mu, c = torch.randn(16, generator=g, dtype=torch.float64), _random_cov(16, g)
    assert metrics.frechet_distance(mu, c, mu, c) < 1e-9
    mu2, c2 = mu + 0.3, _random_cov(16, g)
    ab, ba = metrics.frechet_distance(mu, c, mu2, c2), metrics.frechet_distance(mu2, c2, mu, c)
    assert ab > 1 and ab == pytest.approx(ba, rel=1e-9)
    # a rank-deficient covariance (fewer samples than dimensions) is still handled
    few = torch.randn(5, 16, generator=g, dtype=torch.float64)
    m, cf = metrics.feature_stats(few)
    assert metrics.frechet_distance(m, cf, m, cf) < 1e-6


def test_feature_stats_matches_numpy_and_checks_shape():
    f = torch.randn(50, 4, generator=torch.Generator().manual_seed(3))
    mu, cov = metrics.feature_stats(f)
    assert mu.dtype == torch.float64
    torch.testing.assert_close(cov, torch.from_numpy(f.double().numpy().T.copy()).cov())
    torch.testing.assert_close(mu, f.double().mean(0))
    with pytest.raises(ValueError, match=r"\[N, D\] with N >= 2"):
        metrics.feature_stats(torch.randn(1, 4))
    with pytest.raises(ValueError, match="covariances"):
        metrics.frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(4), torch.eye(4))


def test_bad_images_get_clear_errors():
    net = MnistClassifier()
    good = torch.rand(4, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\[N, 1, 28, 28\].*unsqueeze"):
        metrics.fid(torch.rand(4, 28, 28), good, net)
    with pytest.raises(ValueError, match=r"\[0, 1\].*sigmoid"):
        metrics.fid(torch.randn(4, 1, 28, 28) * 3, good, net)
    with pytest.raises(ValueError, match="255"):
        check_mnist_images((good * 255).to(torch.uint8))
    # each shape mistake gets its own fix, not the missing-axis one
    with pytest.raises(ValueError, match=r"3 colour channels.*mean\(1, keepdim=True\)") as err:
        metrics.fid(good.expand(4, 3, 28, 28), good, net)
    assert "unsqueeze" not in str(err.value)
    with pytest.raises(ValueError, match=r"32x32 but must be 28x28.*F.interpolate\(x, size=\(28, 28\)") as err:
        check_mnist_images(torch.rand(4, 1, 32, 32))
    assert "unsqueeze" not in str(err.value)
    with pytest.raises(ValueError, match=r"flat vector.*view\(-1, 1, 28, 28\)"):
        check_mnist_images(torch.rand(4, 784))
    with pytest.raises(ValueError, match="NaN"):
        check_mnist_images(torch.full((2, 1, 28, 28), float("nan")))
    with pytest.raises(ValueError, match="at least 2"):
        metrics.fid(good[:1], good, net)


def test_random_shift_moves_pixels_without_changing_them():
    x = torch.zeros(3, 1, 28, 28)
    x[:, :, 10, 12] = 1.0
    s = random_shift(x, 2, generator=torch.Generator().manual_seed(0))
    assert s.shape == x.shape and torch.equal(s.sum((1, 2, 3)), torch.ones(3))
    pos = s.flatten(1).argmax(1)
    assert ((pos // 28 - 10).abs() <= 2).all() and ((pos % 28 - 12).abs() <= 2).all()
    torch.testing.assert_close(random_shift(x, 0), x)


# ---- the shipped classifier ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    torch.set_num_threads(min(2, torch.get_num_threads()))
    net = metrics.load_fid_classifier("cpu")  # raises ChecksumError if the file does not match the manifest
    x, _ = load_mnist("train")
    xv, yv = load_mnist("val")
    train_features = metrics.classifier_features(x, net)
    return net, metrics.feature_stats(train_features), xv, yv, train_features


def test_shipped_classifier_reaches_its_stated_accuracy(shipped):
    net, _, xv, yv, _ = shipped
    entry = read_manifest()["mnist_classifier"]
    assert sha256_file(checkpoint_dir() / entry["file"]) == entry["sha256"]
    assert (checkpoint_dir() / entry["file"]).stat().st_size < 20e6
    acc = accuracy(net, xv, yv)
    assert acc >= 0.98
    assert acc == pytest.approx(entry["metric"]["value"], abs=0.002)
    assert not any(p.requires_grad for p in net.parameters()) and not net.training
    assert net.features(xv[:3]).shape == (3, 128)


def test_fid_real_floor_is_far_below_noise_and_blur(shipped):
    net, train_stats, xv, _, _ = shipped
    floor = metrics.fid(xv, train_stats, net)
    blurred = F.avg_pool2d(xv, 5, stride=1, padding=2, count_include_pad=False)
    noise = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    fid_blur, fid_noise = metrics.fid(blurred, train_stats, net), metrics.fid(noise, train_stats, net)
    assert floor < 0.2 * fid_blur and fid_blur < fid_noise
    # passing images or precomputed stats for the reference gives the same number
    assert metrics.fid(xv[:200], xv[200:], net) == pytest.approx(
        metrics.fid(xv[:200], metrics.feature_stats(metrics.classifier_features(xv[200:], net)), net))


def test_fid_is_biased_upwards_at_small_sample_size(shipped):
    net, train_stats, xv, _, _ = shipped
    by_n = [metrics.fid(xv[::step], train_stats, net) for step in (10, 4, 1)]  # 100, 250, 1000 real images
    assert by_n[0] > by_n[1] > by_n[2]


def test_small_n_fid_is_noise_and_kid_tells_real_from_blurred(shipped):
    """At N = 200 five disjoint sets of real digits score FIDs tens apart, which is why a small-N figure needs the
    real-subset spread beside it; KID puts real digits near 0 and blurred ones far away, with the same images."""
    net, _, xv, _, train_f = shipped
    val_f = metrics.classifier_features(xv, net)
    spread = metrics.real_subset_spread(val_f, train_f, 200, kid_subsets=10)
    assert len(spread["fid"]) == 5 and max(spread["fid"]) - min(spread["fid"]) > 20
    assert min(spread["fid"]) > metrics.frechet_distance(*metrics.feature_stats(val_f), *metrics.feature_stats(train_f))
    blurred = F.avg_pool2d(xv, 5, stride=1, padding=2, count_include_pad=False)
    kid_real, kid_blur = (metrics.kid(x, train_f, net, subsets=10, subset_size=500) for x in (xv, blurred))
    assert abs(kid_real[0]) < 0.02 * kid_blur[0] and kid_blur[0] > 10 * kid_blur[1]
    assert kid_real == metrics.kernel_distance(val_f, train_f, 10, 500)  # images or features: the same numbers
