"""Autoencoders, VAEs and VQ-VAEs for 28x28 images in [0, 1]: compress to a latent, decode back.

Likelihood choice: the decoder outputs one logit per pixel and log p(x|z) is the Bernoulli log-likelihood
sum_i x_i log p_i + (1 - x_i) log(1 - p_i), i.e. minus binary cross-entropy, used on the grey [0, 1] pixels
as they are. That is exact for black-and-white images; for grey values it is a cross-entropy that is not
normalized over [0, 1] (the "continuous Bernoulli" constant is left out, as almost every VAE tutorial does),
so our NLLs in nats compare models within this course, not with binarized-MNIST numbers in papers.
A decoded image is the Bernoulli mean sigmoid(logits), the standard way to show it.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from genlib.image.blocks import MLP
from genlib.image.classifier import check_mnist_images

PIXELS = 28 * 28
LOG_2PI = math.log(2 * math.pi)


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | z) in nats per image [N]: minus the binary cross-entropy summed over pixels."""
    if logits.shape != x.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and images {tuple(x.shape)} must have the same shape")
    if not logits.is_floating_point() or not x.is_floating_point():
        raise TypeError(f"logits and images must be float tensors, got dtypes {logits.dtype} and {x.dtype}; "
                        "pass logits.float() and images.float() (pixels in [0, 1])")
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


class Autoencoder(nn.Module):
    """A deterministic MLP autoencoder: 784 -> hidden -> hidden -> latent -> hidden -> hidden -> 784 logits."""

    def __init__(self, latent_dim: int = 16, hidden: int = 512):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = MLP([PIXELS, hidden, hidden, latent_dim])
        self.decoder = MLP([latent_dim, hidden, hidden, PIXELS], flatten=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel logits [N, 1, 28, 28]; sigmoid(logits) is the image."""
        return self.decoder(z).view(-1, 1, 28, 28)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def autoencoder_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Reconstruction loss in nats per image: mean binary cross-entropy of model(x) against x."""
    return -bernoulli_log_likelihood(model(x), x).mean()


# ---- the variational autoencoder ---------------------------------------------------------------------------

def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I): a sample of q(z|x) that gradients flow through to mu and logvar."""
    if eps is None:
        eps = torch.randn(mu.shape, generator=generator).to(mu.device)
    return mu + (0.5 * logvar).exp() * eps


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in nats per row [N], in closed form."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor | float = 0.0, logvar: torch.Tensor | float = 0.0) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last axis; the defaults give the prior N(0, I)."""
    logvar = torch.as_tensor(logvar, dtype=z.dtype, device=z.device)
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


class VAE(nn.Module):
    """A variational autoencoder: an MLP encoder gives q(z|x) = N(mu, diag(sigma^2)), an MLP decoder p(x|z) logits."""

    def __init__(self, latent_dim: int = 16, hidden: int = 512):
        super().__init__()
        if latent_dim < 1 or hidden < 1:
            raise ValueError(f"latent_dim and hidden must be >= 1, got {latent_dim}, {hidden}")
        self.latent_dim = latent_dim
        self.encoder = MLP([PIXELS, hidden, hidden, 2 * latent_dim])
        self.decoder = MLP([latent_dim, hidden, hidden, PIXELS], flatten=False)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and log-variance [N, latent_dim] of q(z|x)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel logits [N, 1, 28, 28] of p(x|z); sigmoid(logits) is the image."""
        return self.decoder(z).view(-1, 1, 28, 28)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """(logits, mu, logvar): encode, draw one z by reparameterization, decode."""
        mu, logvar = self.encode(x)
        return self.decode(reparameterize(mu, logvar, generator=generator)), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images [n, 1, 28, 28] in [0, 1]: z from the prior N(0, I), decoded to the Bernoulli mean."""
        device = next(self.parameters()).device
        return torch.sigmoid(self.decode(torch.randn(n, self.latent_dim, generator=generator).to(device)))


class ELBO(NamedTuple):
    """The evidence lower bound per image and its two terms, all in nats: elbo = reconstruction - kl."""
    elbo: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


def elbo(model: VAE, x: torch.Tensor, generator: torch.Generator | None = None) -> ELBO:
    """ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)), per image, with a one-sample estimate of the expectation."""
    check_mnist_images(x)
    logits, mu, logvar = model(x, generator=generator)
    rec = bernoulli_log_likelihood(logits, x)
    kl = kl_divergence(mu, logvar)
    return ELBO(rec - kl, rec, kl)


def vae_loss(model: VAE, x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Minus the mean ELBO (nats per image), the KL term weighted by `beta` (beta = 1 is the true ELBO)."""
    terms = elbo(model, x)
    return (beta * terms.kl - terms.reconstruction).mean()


@torch.no_grad()
def importance_sampled_nll(model: VAE, x: torch.Tensor, k: int = 100, generator: torch.Generator | None = None,
                           max_batch: int = 20_000) -> torch.Tensor:
    """-log p(x) per image [N] in nats, estimated with k samples from q(z|x) as the proposal.

    log p(x) ~ log (1/k) sum_j p(x|z_j) p(z_j) / q(z_j|x). With k = 1 this is an ELBO sample; as k grows the
    estimate rises towards log p(x) (Burda et al.'s IWAE bound), so the NLL falls towards the true value.
    """
    check_mnist_images(x)
    if k < 1:
        raise ValueError(f"k must be >= 1 importance samples, got {k}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    chunk = max(1, max_batch // k)
    out = []
    for i in range(0, len(x), chunk):
        xb = x[i:i + chunk].to(device)
        mu, logvar = model.encode(xb)
        eps = torch.randn((k, *mu.shape), generator=generator).to(device)
        z = mu + (0.5 * logvar).exp() * eps                                   # [k, n, D]
        logits = model.decode(z.flatten(0, 1))
        log_px = bernoulli_log_likelihood(logits, xb.repeat(k, 1, 1, 1)).view(k, -1)
        log_w = log_px + gaussian_log_prob(z) - gaussian_log_prob(z, mu, logvar)
        out.append(-(torch.logsumexp(log_w, 0) - math.log(k)).cpu())
    model.train(was_training)
    return torch.cat(out)


# ---- the vector-quantized VAE ------------------------------------------------------------------------------

class VectorQuantizer(nn.Module):
    """Snap each D-dim vector to its nearest codebook entry; gradients pass straight through to the encoder.

    Works on any [B, D, ...] tensor (an image grid [B, D, H, W], a sequence [B, D, T]), so the same layer turns
    images and audio into tokens. Loss = |sg(z_e) - e|^2 (moves codes) + beta |z_e - sg(e)|^2 (commitment).
    In training mode it also initializes the codebook from the first batch and restarts unused codes
    (restart_below=0 turns that off).
    """

    def __init__(self, num_codes: int = 64, dim: int = 16, beta: float = 0.25, restart_below: float = 0.03):
        super().__init__()
        self.num_codes, self.dim, self.beta, self.restart_below = num_codes, dim, beta, restart_below
        self.codebook = nn.Embedding(num_codes, dim)
        nn.init.uniform_(self.codebook.weight, -1 / num_codes, 1 / num_codes)
        self.register_buffer("initialized", torch.tensor(False))    # saved: a loaded codebook is never re-initialized
        self.register_buffer("ema_usage", torch.full((num_codes,), 1 / num_codes), persistent=False)

    @torch.no_grad()
    def _care_for_codebook(self, z_e: torch.Tensor, codes: torch.Tensor) -> bool:
        """Training only: start the codebook at encoder outputs, then move codes nobody uses onto random encoder
        outputs ("random restarts", as in Jukebox), so it does not collapse onto a few entries. True if it changed."""
        flat = z_e.detach().movedim(1, -1).reshape(-1, self.dim)
        pick = lambda n: flat[torch.randint(len(flat), (n,), device=flat.device)]
        if not self.initialized:
            self.codebook.weight.copy_(pick(self.num_codes))
            self.initialized.fill_(True)
            return True
        usage = torch.bincount(codes.flatten(), minlength=self.num_codes) / codes.numel()
        self.ema_usage.mul_(0.99).add_(usage, alpha=0.01)
        dead = self.ema_usage < self.restart_below / self.num_codes
        if dead.any():
            self.codebook.weight[dead] = pick(int(dead.sum()))
            self.ema_usage[dead] = 1 / self.num_codes
        return bool(dead.any())

    def nearest(self, z_e: torch.Tensor) -> torch.Tensor:
        """Index of the closest codebook entry for each vector: [B, D, *S] -> [B, *S] (int64)."""
        if z_e.dim() < 2 or z_e.shape[1] != self.dim:
            raise ValueError(f"expected [B, {self.dim}, ...] vectors on axis 1, got shape {tuple(z_e.shape)}")
        flat = z_e.movedim(1, -1).reshape(-1, self.dim)
        e = self.codebook.weight
        d2 = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.T + e.pow(2).sum(1)
        return d2.argmin(1).view(z_e.shape[0], *z_e.shape[2:])

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook vectors for integer codes: [B, *S] -> [B, D, *S] (decode tokens from a prior)."""
        return self.codebook(codes).movedim(-1, 1)

    def forward(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z_q with straight-through gradients, codebook + commitment loss, codes [B, *S])."""
        codes = self.nearest(z_e)
        if self.training and self.restart_below > 0 and self._care_for_codebook(z_e, codes):
            codes = self.nearest(z_e)
        z_q = self.lookup(codes)
        loss = F.mse_loss(z_q, z_e.detach()) + self.beta * F.mse_loss(z_e, z_q.detach())
        return z_e + (z_q - z_e).detach(), loss, codes   # forward value z_q, backward identity to z_e


def codebook_usage(codes: torch.Tensor, num_codes: int) -> torch.Tensor:
    """How often each code is used, as a probability vector [num_codes]."""
    counts = torch.bincount(codes.flatten().cpu(), minlength=num_codes).double()
    return counts / counts.sum()


def perplexity(codes: torch.Tensor, num_codes: int) -> float:
    """exp(entropy of code usage): the number of codes used 'effectively' (num_codes if all equally, 1 if one)."""
    p = codebook_usage(codes, num_codes)
    return float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()))


class VQVAE(nn.Module):
    """A small conv VQ-VAE: 28x28 image -> 7x7 grid of tokens (codes in [0, num_codes)) -> 28x28 logits."""

    def __init__(self, num_codes: int = 64, code_dim: int = 16, width: int = 32, beta: float = 0.25):
        super().__init__()
        w = width
        self.encoder = nn.Sequential(
            nn.Conv2d(1, w, 4, 2, 1), nn.ReLU(),            # 28 -> 14
            nn.Conv2d(w, w, 4, 2, 1), nn.ReLU(),            # 14 -> 7
            nn.Conv2d(w, code_dim, 1))
        self.quantizer = VectorQuantizer(num_codes, code_dim, beta)
        self.decoder = nn.Sequential(
            nn.Conv2d(code_dim, w, 3, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(w, w, 4, 2, 1), nn.ReLU(),   # 7 -> 14
            nn.ConvTranspose2d(w, 1, 4, 2, 1))              # 14 -> 28

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Token grid [N, 7, 7] of codebook indices."""
        return self.quantizer.nearest(self.encoder(x))

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Pixel logits [N, 1, 28, 28] from a token grid [N, 7, 7]."""
        return self.decoder(self.quantizer.lookup(codes))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, VQ loss, codes)."""
        z_q, vq_loss, codes = self.quantizer(self.encoder(x))
        return self.decoder(z_q), vq_loss, codes


def vqvae_loss(model: VQVAE, x: torch.Tensor) -> torch.Tensor:
    """Reconstruction (nats per image) plus the VQ loss scaled to a per-image sum over the latent grid."""
    logits, vq_loss, codes = model(x)
    return -bernoulli_log_likelihood(logits, x).mean() + vq_loss * codes[0].numel() * model.quantizer.dim
