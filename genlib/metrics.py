"""Numbers that say how good a generative model is: likelihood in nats and bits, novelty, and FID and KID on MNIST
features."""
from __future__ import annotations

import math

import torch


def nats_to_bits(nats: float | torch.Tensor) -> float | torch.Tensor:
    """Convert a log-likelihood or loss from nats (natural log) to bits (log base 2)."""
    return nats / math.log(2)


def nearest_neighbour_distance(samples: torch.Tensor, reference: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """Euclidean distance from each sample to its closest reference item (flattened): 0 means a copy.

    A model that memorizes its training set gives distances near 0; a model that generalizes gives distances
    like those of fresh held-out data.
    """
    # float64: cdist's fast |a|^2 + |b|^2 - 2ab form loses ~1e-3 to cancellation in float32, so a copy would not
    # score 0
    a = samples.reshape(len(samples), -1).double()
    b = reference.reshape(len(reference), -1).double()
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"samples have {a.shape[1]} features per item but reference has {b.shape[1]}")
    return torch.cat([torch.cdist(a[i:i + chunk], b).min(1).values for i in range(0, len(a), chunk)]).float()


# ---- Fréchet distance and FID on the course's own MNIST classifier features ----------------------------------

def feature_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean [D] and covariance [D, D] (float64) of [N, D] features: the Gaussian that FID fits to each set."""
    if features.dim() != 2 or len(features) < 2:
        raise ValueError(f"features must be [N, D] with N >= 2, got shape {tuple(features.shape)}")
    f = features.detach().to(torch.float64).cpu()
    return f.mean(0), torch.cov(f.T).reshape(f.shape[1], f.shape[1])


def _psd_sqrt(cov: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition (tiny negative eigenvalues -> 0)."""
    w, v = torch.linalg.eigh((cov + cov.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, cov1) and N(mu2, cov2), computed in float64.

    d = |mu1 - mu2|^2 + tr(cov1) + tr(cov2) - 2 tr sqrt(sqrt(cov1) cov2 sqrt(cov1)). The inner matrix is
    symmetric PSD, so its square-root trace is the sum of the square roots of its eigenvalues (eigvalsh):
    stable, and needs no scipy.linalg.sqrtm.
    """
    mu1, cov1, mu2, cov2 = (torch.as_tensor(t, dtype=torch.float64).cpu() for t in (mu1, cov1, mu2, cov2))
    d = mu1.shape[-1] if mu1.dim() == 1 else -1
    if mu1.dim() != 1 or mu2.shape != mu1.shape or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(f"need means [D] and covariances [D, D] of one size D, got {tuple(mu1.shape)}, "
                         f"{tuple(cov1.shape)}, {tuple(mu2.shape)}, {tuple(cov2.shape)}; use feature_stats(features)")
    s1 = _psd_sqrt(cov1)
    inner = s1 @ cov2 @ s1
    tr_sqrt = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0).sqrt().sum()
    dist = (mu1 - mu2).pow(2).sum() + cov1.trace() + cov2.trace() - 2 * tr_sqrt
    return max(float(dist), 0.0)  # >= 0 in exact arithmetic; rounding can leave -1e-12


@torch.no_grad()
def classifier_features(images: torch.Tensor, classifier: torch.nn.Module, batch_size: int = 500) -> torch.Tensor:
    """Penultimate features [N, D] (float64, CPU) of [N, 1, 28, 28] images in [0, 1], computed in batches."""
    from genlib.image.classifier import check_mnist_images
    check_mnist_images(images)
    if not hasattr(classifier, "features"):
        raise TypeError("classifier needs a .features(x) method; use genlib.metrics.load_fid_classifier()")
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    out = torch.cat([classifier.features(images[i:i + batch_size].to(device)).to(torch.float64).cpu()
                     for i in range(0, len(images), batch_size)])
    classifier.train(was_training)
    return out


def fid(images_a: torch.Tensor, images_b: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
        classifier: torch.nn.Module) -> float:
    """Fréchet Inception-style Distance between two image sets, on `classifier`'s features (lower is better).

    `images_b` may be a (mean, cov) pair from feature_stats, to reuse the reference statistics. FID is a
    biased estimate: with fewer images it comes out higher, even for the same distribution, so only compare
    FIDs computed with the same number of images (this course uses 1,000 against the 9,000 training images).
    """
    if len(images_a) < 2:
        raise ValueError(f"FID needs at least 2 images per set, got {len(images_a)}; pass a batch [N, 1, 28, 28] of "
                         "many samples (this course scores 1,000)")
    mu_a, cov_a = feature_stats(classifier_features(images_a, classifier))
    if isinstance(images_b, tuple):
        mu_b, cov_b = images_b
    else:
        if len(images_b) < 2:
            raise ValueError(f"FID needs at least 2 images per set, got {len(images_b)}; pass many reference "
                             "images, or their (mean, cov) from feature_stats")
        mu_b, cov_b = feature_stats(classifier_features(images_b, classifier))
    return frechet_distance(mu_a, cov_a, mu_b, cov_b)


# ---- KID: an unbiased kernel distance for small samples, and how noisy any score is at a given N -------------

def poly_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """KID's kernel k(x, y) = (x . y / D + 1)^3 between the rows of a [M, D] and b [N, D] (Binkowski et al. 2018)."""
    return (a @ b.T / a.shape[1] + 1) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased squared MMD between feature sets x [M, D] and y [N, D] with poly_kernel: its mean over many draws
    is the true distance (0 for one distribution), at any M, N >= 2; a single value can be slightly negative."""
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1] or len(x) < 2 or len(y) < 2:
        raise ValueError(f"need two [N, D] feature sets with N >= 2 and one D, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}; use classifier_features(images, classifier)")
    x, y = x.to(torch.float64), y.to(torch.float64)
    m, n = len(x), len(y)
    k_xx, k_yy = poly_kernel(x, x), poly_kernel(y, y)
    within = ((k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))  # i != j: no item compared with itself
              + (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1)))
    return float(within - 2 * poly_kernel(x, y).sum() / (m * n))


def kernel_distance(features_a: torch.Tensor, features_b: torch.Tensor, subsets: int = 100,
                    subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID on features: mean and std of mmd2_unbiased over `subsets` random draws of subset_size items from each set
    (capped at the smaller set's size), as torchmetrics' KernelInceptionDistance computes it."""
    if subsets < 1 or subset_size < 2:
        raise ValueError(f"need subsets >= 1 and subset_size >= 2, got {subsets} and {subset_size}")
    m = min(subset_size, len(features_a), len(features_b))
    g = torch.Generator().manual_seed(seed)
    scores = torch.tensor([mmd2_unbiased(features_a[torch.randperm(len(features_a), generator=g)[:m]],
                                         features_b[torch.randperm(len(features_b), generator=g)[:m]])
                           for _ in range(subsets)], dtype=torch.float64)
    return scores.mean().item(), scores.std(unbiased=False).item()


def kid(images_a: torch.Tensor, images_b: torch.Tensor, classifier: torch.nn.Module, subsets: int = 100,
        subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception-style Distance (mean, std over subsets) on `classifier`'s features, lower is better.

    Unlike FID it is unbiased: its expected value does not depend on the number of images, so it can be compared
    across sample sizes and is the safer score at small N. `images_b` may be features from classifier_features
    ([N, D], e.g. of the training set) to reuse them.
    """
    fa = classifier_features(images_a, classifier)
    fb = images_b if images_b.dim() == 2 else classifier_features(images_b, classifier)
    return kernel_distance(fa, fb, subsets, subset_size, seed)


def real_subset_spread(real_features: torch.Tensor, reference_features: torch.Tensor, n: int, k: int | None = None,
                       seed: int = 0, kid_subsets: int = 100) -> dict[str, list[float]]:
    """FID and KID of k disjoint random n-item subsets of real features against the reference: the noise a score
    has at N = n, to show beside any small-N figure (k defaults to as many as fit).

    Two models whose scores differ by less than this spread cannot be ranked at N = n.
    """
    k = len(real_features) // n if k is None else k
    if n < 2 or k < 2 or k * n > len(real_features):
        raise ValueError(f"need k >= 2 disjoint subsets of n >= 2 items from {len(real_features)} real features, got "
                         f"n={n}, k={k}; lower n or k")
    perm = torch.randperm(len(real_features), generator=torch.Generator().manual_seed(seed))
    ref_stats = feature_stats(reference_features)
    out: dict[str, list[float]] = {"fid": [], "kid": []}
    for i in range(k):
        part = real_features[perm[i * n:(i + 1) * n]]
        out["fid"].append(frechet_distance(*feature_stats(part), *ref_stats))
        out["kid"].append(kernel_distance(part, reference_features, kid_subsets, n, seed + i)[0])
    return out


def load_fid_classifier(device: torch.device | str | None = None) -> torch.nn.Module:
    """The shipped MNIST classifier (checkpoint 'mnist_classifier', hash-checked), frozen in eval mode on `device`."""
    from genlib.checkpoints import load_checkpoint
    from genlib.device import get_device
    from genlib.image.classifier import MnistClassifier
    model = MnistClassifier().to(get_device(device) if device is None or isinstance(device, str) else device)
    load_checkpoint("mnist_classifier", model)
    model.eval().requires_grad_(False)
    return model
