"""Numbers that say how good a generative model is: likelihood in nats and bits, novelty, and FID on MNIST features."""
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
    a = samples.reshape(len(samples), -1).float()
    b = reference.reshape(len(reference), -1).float()
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"samples have {a.shape[1]} features per item but reference has {b.shape[1]}")
    return torch.cat([torch.cdist(a[i:i + chunk], b).min(1).values for i in range(0, len(a), chunk)])


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
        raise ValueError(f"FID needs at least 2 images per set, got {len(images_a)}")
    mu_a, cov_a = feature_stats(classifier_features(images_a, classifier))
    if isinstance(images_b, tuple):
        mu_b, cov_b = images_b
    else:
        if len(images_b) < 2:
            raise ValueError(f"FID needs at least 2 images per set, got {len(images_b)}")
        mu_b, cov_b = feature_stats(classifier_features(images_b, classifier))
    return frechet_distance(mu_a, cov_a, mu_b, cov_b)


def load_fid_classifier(device: torch.device | str | None = None) -> torch.nn.Module:
    """The shipped MNIST classifier (checkpoint 'mnist_classifier', hash-checked), frozen in eval mode on `device`."""
    from genlib.checkpoints import load_checkpoint
    from genlib.device import get_device
    from genlib.image.classifier import MnistClassifier
    model = MnistClassifier().to(get_device(device) if device is None or isinstance(device, str) else device)
    load_checkpoint("mnist_classifier", model)
    model.eval().requires_grad_(False)
    return model
