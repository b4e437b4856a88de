"""Classic density models fit by counting or EM: a 2-D histogram, a Gaussian mixture, a mixture of Bernoullis.

They are the first generative models of the course: learn a distribution, then sample it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def _check_temperature(t: float) -> None:
    if not t > 0:
        raise ValueError(f"temperature must be > 0, got {t} (use a small value such as 0.01 for near-greedy sampling)")


def sharpen(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """probs ** (1/T), renormalized: T < 1 favours likely outcomes, T > 1 flattens, T = 1 leaves them alone."""
    _check_temperature(temperature)
    logp = probs.clamp_min(1e-30).log() / temperature
    return (logp - logp.logsumexp(-1, keepdim=True)).exp()


class Histogram2D:
    """A 2-D histogram density on [-lim, lim]^2: count points per bin (plus `alpha` smoothing), then normalize."""

    def __init__(self, bins: int = 30, lim: float = 3.0, alpha: float = 0.01):
        self.bins, self.lim, self.alpha = bins, lim, alpha
        self.width = 2 * lim / bins
        self.probs = torch.full((bins * bins,), 1 / bins**2)

    def _index(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ij = ((x + self.lim) / self.width).floor().long()
        inside = ((ij >= 0) & (ij < self.bins)).all(1)
        return ij[:, 0].clamp(0, self.bins - 1) * self.bins + ij[:, 1].clamp(0, self.bins - 1), inside

    def fit(self, x: torch.Tensor) -> Histogram2D:
        idx, inside = self._index(x)
        counts = torch.bincount(idx[inside], minlength=self.bins**2).float() + self.alpha
        self.probs = counts / counts.sum()
        return self

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log density (per unit area); points outside the square get log(1e-12)."""
        idx, inside = self._index(x)
        logp = (self.probs[idx] / self.width**2).log()
        return torch.where(inside, logp, torch.full_like(logp, math.log(1e-12)))

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Pick bins with probability ∝ p^(1/T), then a uniform point inside each bin."""
        idx = torch.multinomial(sharpen(self.probs, temperature), n, replacement=True, generator=generator)
        corner = torch.stack([idx // self.bins, idx % self.bins], 1).float() * self.width - self.lim
        return corner + torch.rand(n, 2, generator=generator) * self.width


@dataclass
class GaussianMixture:
    """K weighted Gaussians in D dimensions: weights [K], means [K, D], covariances [K, D, D]."""
    weights: torch.Tensor
    means: torch.Tensor
    covs: torch.Tensor

    def component_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """log(w_k N(x | mu_k, Sigma_k)) for every point and component, [N, K]."""
        dist = torch.distributions.MultivariateNormal(self.means, covariance_matrix=self.covs)
        return dist.log_prob(x.unsqueeze(1)) + self.weights.log()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.component_log_probs(x).logsumexp(1)

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Pick a component with probability ∝ w^(1/T), then draw from it with covariance scaled by T."""
        k = torch.multinomial(sharpen(self.weights, temperature), n, replacement=True, generator=generator)
        chol = torch.linalg.cholesky(self.covs * temperature)
        z = torch.randn(n, self.means.shape[1], 1, generator=generator)
        return self.means[k] + (chol[k] @ z).squeeze(-1)


def em_step(x: torch.Tensor, gmm: GaussianMixture, reg: float = 1e-4) -> GaussianMixture:
    """One expectation-maximization step: soft-assign points (E), then refit weights, means, covariances (M)."""
    resp = gmm.component_log_probs(x).softmax(1)                # [N, K] responsibilities
    nk = resp.sum(0) + 1e-10                                    # effective points per component
    means = resp.T @ x / nk[:, None]
    diff = x[:, None, :] - means[None]                          # [N, K, D]
    covs = torch.einsum("nk,nki,nkj->kij", resp, diff, diff) / nk[:, None, None]
    covs = covs + reg * torch.eye(x.shape[1])
    return GaussianMixture(nk / nk.sum(), means, covs)


def kmeans_pp_init(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding: each new centre is a data point drawn with probability ∝ squared distance to the
    nearest centre so far, so the starting centres spread over the data and EM rarely gets stuck."""
    chosen = [int(torch.randint(len(x), (1,), generator=generator))]
    d2 = (x - x[chosen[0]]).pow(2).sum(1)
    for _ in range(1, k):
        chosen.append(int(torch.multinomial(d2 / d2.sum(), 1, generator=generator)))
        d2 = torch.minimum(d2, (x - x[chosen[-1]]).pow(2).sum(1))
    return x[chosen].clone()


def fit_gmm(x: torch.Tensor, k: int, iters: int = 100, seed: int = 0) -> GaussianMixture:
    """Fit a K-component Gaussian mixture by EM, starting from k-means++ centres and the data's spread."""
    if x.dim() != 2 or len(x) < k:
        raise ValueError(f"x must be [N, D] with N >= k={k}, got {tuple(x.shape)}")
    g = torch.Generator().manual_seed(seed)
    means = kmeans_pp_init(x, k, g)
    cov = torch.cov(x.T).reshape(x.shape[1], x.shape[1]) / k + 1e-3 * torch.eye(x.shape[1])
    gmm = GaussianMixture(torch.full((k,), 1 / k), means, cov.expand(k, -1, -1).clone())
    for _ in range(iters):
        gmm = em_step(x, gmm)
    return gmm


@dataclass
class BernoulliMixture:
    """K prototypes of independent pixel probabilities: weights [K], probs [K, D]. K = 1 is 'every pixel independent'."""
    weights: torch.Tensor
    probs: torch.Tensor

    def component_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        p = self.probs.clamp(1e-4, 1 - 1e-4)
        return x @ p.log().T + (1 - x) @ (1 - p).log().T + self.weights.log()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-likelihood in nats of binary vectors x [N, D]."""
        return self.component_log_probs(x).logsumexp(1)

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.multinomial(sharpen(self.weights, temperature), n, replacement=True, generator=generator)
        return torch.bernoulli(self.probs[k], generator=generator)


def fit_bernoulli_mixture(x: torch.Tensor, k: int, iters: int = 30, seed: int = 0, alpha: float = 1.0) -> BernoulliMixture:
    """Fit a mixture of Bernoullis to binary data [N, D] by EM (with `alpha` pseudo-counts so no pixel is certain)."""
    if x.dim() != 2 or not ((x == 0) | (x == 1)).all():
        raise ValueError("x must be a [N, D] tensor of 0s and 1s; binarize images first, e.g. (images > 0.5).float()")
    g = torch.Generator().manual_seed(seed)
    mix = BernoulliMixture(torch.full((k,), 1 / k), 0.25 + 0.5 * torch.rand(k, x.shape[1], generator=g))
    for _ in range(iters):
        resp = mix.component_log_probs(x).softmax(1)
        nk = resp.sum(0)
        mix = BernoulliMixture(nk / nk.sum(), (resp.T @ x + alpha) / (nk[:, None] + 2 * alpha))
    return mix
