"""KID, the unbiased kernel distance: checked by brute force, against torchmetrics' maths, and for the property that
makes it the score to use at small N (no bias with the sample size, unlike FID)."""
import itertools

import pytest
import torch

from genlib import metrics


def _feats(n, d, seed, shift=0.0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def test_mmd2_unbiased_matches_brute_force_double_sums():
    """MMD^2_u = mean_{i != j} k(x_i, x_j) + mean_{i != j} k(y_i, y_j) - 2 mean_{i, j} k(x_i, y_j), written as loops."""
    k = lambda a, b: (a @ b / len(a) + 1) ** 3  # noqa: E731
    for m, n in ((4, 4), (3, 5)):
        x, y = _feats(m, 3, 0), _feats(n, 3, 1, shift=0.7)
        xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
        yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
        xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
        assert metrics.mmd2_unbiased(x, y) == pytest.approx((xx + yy - 2 * xy).item(), rel=1e-12)
    x = _feats(6, 3, 2)
    assert metrics.mmd2_unbiased(x, x) < 0  # unbiased: the diagonal is left out, so a set against itself is < 0
    with pytest.raises(ValueError, match=r"\[N, D\] feature sets.*classifier_features"):
        metrics.mmd2_unbiased(_feats(4, 3, 0), _feats(4, 2, 1))


def test_kernel_distance_equals_torchmetrics_kid_on_the_same_subsets():
    """torchmetrics' KernelInceptionDistance.compute: per subset poly_mmd(real, fake), then mean and std
    (unbiased=False). Drawing the same subsets (same generator, same order), genlib gives the same numbers."""
    kid_maths = pytest.importorskip("torchmetrics.image.kid")
    a, b = _feats(300, 16, 3) * 2, _feats(250, 16, 4, shift=0.3) * 2
    subsets, size = 20, 100
    mean, std = metrics.kernel_distance(a, b, subsets, size, seed=7)
    g = torch.Generator().manual_seed(7)
    ref = torch.stack([kid_maths.poly_mmd(a[torch.randperm(300, generator=g)[:size]],
                                          b[torch.randperm(250, generator=g)[:size]]) for _ in range(subsets)])
    assert mean == pytest.approx(ref.mean().item(), rel=1e-5)
    assert std == pytest.approx(ref.std(unbiased=False).item(), rel=1e-5)
    assert abs(mean) > 3 * std / subsets**0.5  # the shift is visible: the check compares a non-trivial number


def test_kid_is_unbiased_in_n_where_fid_is_not():
    """The same two distributions scored with 20 and 500 items per set: KID's mean agrees, FID grows at small N."""
    a, b = _feats(4000, 8, 5), _feats(4000, 8, 6, shift=0.25)
    kid_small, kid_large = (metrics.kernel_distance(a, b, subsets, n, seed=1)[0]
                            for subsets, n in ((400, 20), (40, 500)))
    assert kid_small == pytest.approx(kid_large, rel=0.15)
    fd = lambda n: metrics.frechet_distance(*metrics.feature_stats(a[:n]), *metrics.feature_stats(b[:n]))  # noqa: E731
    assert fd(20) > 2 * fd(500)


def test_real_subset_spread_shrinks_with_n_and_checks_its_arguments():
    real, ref = _feats(1000, 8, 8), _feats(3000, 8, 9)
    small, large = metrics.real_subset_spread(real, ref, 50, k=5), metrics.real_subset_spread(real, ref, 200)
    assert len(small["fid"]) == len(small["kid"]) == 5 and len(large["fid"]) == 5  # 1000 // 200 disjoint subsets
    width = lambda v: max(v) - min(v)  # noqa: E731
    assert width(small["fid"]) > width(large["fid"]) and min(small["fid"]) > max(large["fid"])  # FID's bias at n = 50
    with pytest.raises(ValueError, match="disjoint subsets.*lower n or k"):
        metrics.real_subset_spread(real, ref, 600)
