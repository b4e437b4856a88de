"""GANs: a generator learns to fool a discriminator that learns to tell real from fake (Goodfellow et al., 2014).

Images here live in [-1, 1] (the DCGAN convention, matched by the generator's tanh); `Generator.sample`
returns [0, 1] images for display and FID. The losses are the non-saturating ones almost every GAN uses.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from genlib.image.shapes import check_image_shape
from genlib.train import train

# ---- the losses ---------------------------------------------------------------------------------------------


def _check_logits(logits: torch.Tensor, name: str) -> None:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{name} must be a float tensor of discriminator logits, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"{name} must be a float tensor of discriminator logits, got dtype {logits.dtype}; "
                        f"pass {name}.float() (logits are the discriminator's raw real-valued outputs)")
    if logits.dim() > 1 and logits.shape[-1] != 1:
        raise ValueError(f"{name} must be one logit per item, shape [N] or [N, 1], got {tuple(logits.shape)}")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D's loss: binary cross-entropy with real labelled 1 and fake 0, i.e. -log D(x) - log(1 - D(G(z))), batch means."""
    _check_logits(real_logits, "real_logits")
    _check_logits(fake_logits, "fake_logits")
    # -log sigmoid(r) = softplus(-r) and -log(1 - sigmoid(f)) = softplus(f): stable for any logit
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """G's non-saturating loss -log D(G(z)): strong gradients exactly when D easily spots the fakes."""
    _check_logits(fake_logits, "fake_logits")
    return F.softplus(-fake_logits).mean()


# ---- a DCGAN for 28x28 images -------------------------------------------------------------------------------


class Generator(nn.Module):
    """DCGAN generator: z [N, latent_dim] -> a [width, 7, 7] map -> two stride-2 transposed convs (7 -> 14 -> 28)
    -> a 3x3 conv to one channel -> tanh: images [N, 1, 28, 28] in [-1, 1]."""

    def __init__(self, latent_dim: int = 64, width: int = 64):
        super().__init__()
        if latent_dim < 1 or width < 4:
            raise ValueError(f"latent_dim must be >= 1 and width >= 4, got {latent_dim} and {width}")
        self.latent_dim, w = latent_dim, width
        self.net = nn.Sequential(
            nn.Linear(latent_dim, w * 7 * 7, bias=False), nn.Unflatten(1, (w, 7, 7)), nn.BatchNorm2d(w), nn.ReLU(),
            nn.ConvTranspose2d(w, w // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(w // 2), nn.ReLU(),       # 7 -> 14
            nn.ConvTranspose2d(w // 2, w // 4, 4, 2, 1, bias=False), nn.BatchNorm2d(w // 4), nn.ReLU(),  # 14 -> 28
            nn.Conv2d(w // 4, 1, 3, 1, 1), nn.Tanh(),                                                    # -> pixels
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1], [N, 1, 28, 28]."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be [N, {self.latent_dim}] (N latent vectors), got {tuple(z.shape)}")
        return self.net(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, batch_size: int = 500) -> torch.Tensor:
        """n new images in [0, 1] (for display and FID), made in eval mode from z ~ N(0, I)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        was_training = self.training
        self.eval()
        out = torch.cat([self(z[i:i + batch_size]) for i in range(0, n, batch_size)])
        self.train(was_training)
        return (out + 1) / 2


def check_discriminator_input(x: torch.Tensor) -> None:
    """Raise a clear error unless x is a float [N, 1, 28, 28] batch in [-1, 1], the range D is trained on."""
    check_image_shape(x, "images")
    if not x.is_floating_point():
        raise ValueError(f"images must be floats in [-1, 1], got dtype {x.dtype}; convert uint8 pixels with "
                         "x.float() / 127.5 - 1")
    lo, hi = torch.aminmax(x.detach())
    if lo < -1 - 1e-3 or hi > 1 + 1e-3:
        fixes = ["0-255 pixels with x / 127.5 - 1", "[0, 1] images with x * 2 - 1"]
        raise ValueError(f"images must lie in [-1, 1] (the generator's tanh range), got values in "
                         f"[{lo.item():.3f}, {hi.item():.3f}]; convert {', '.join(fixes if hi > 2 else fixes[::-1])}")


class Discriminator(nn.Module):
    """DCGAN discriminator: [N, 1, 28, 28] image in [-1, 1] -> two stride-2 convs with LeakyReLU (batch norm after
    the second, as in DCGAN) -> one logit [N]."""

    def __init__(self, width: int = 32):
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(1, w, 4, 2, 1), nn.LeakyReLU(0.2),                                  # 28 -> 14
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),  # 14 -> 7
            nn.Flatten(), nn.Linear(2 * w * 7 * 7, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_discriminator_input(x)
        return self.net(x).squeeze(1)


# ---- a tiny GAN for 2-D points ------------------------------------------------------------------------------


def _mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class ToyGenerator(nn.Module):
    """An MLP generator for 2-D points: z [N, latent_dim] -> points [N, 2]."""

    def __init__(self, latent_dim: int = 2, hidden: int = 128, layers: int = 2):
        super().__init__()
        if latent_dim < 1 or hidden < 1 or layers < 1:
            raise ValueError(f"latent_dim, hidden and layers must be >= 1, got {latent_dim}, {hidden}, {layers}")
        self.latent_dim = latent_dim
        self.net = _mlp([latent_dim, *[hidden] * layers, 2], nn.ReLU)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be [N, {self.latent_dim}], got {tuple(z.shape)}")
        return self.net(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n new points [n, 2] from z ~ N(0, I)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        device = next(self.parameters()).device
        return self(torch.randn(n, self.latent_dim, generator=generator).to(device))


class ToyDiscriminator(nn.Module):
    """An MLP discriminator for 2-D points -> one logit per point [N].

    With `minibatch_std=True` it also sees the batch's spread (the standard deviation of the points, averaged over
    the two coordinates) as a third input, the trick ProGAN and StyleGAN use against mode collapse: a generator
    that piles every point on one mode is caught by its too-small spread, whatever each point looks like.
    """

    def __init__(self, hidden: int = 128, layers: int = 2, minibatch_std: bool = False):
        super().__init__()
        if hidden < 1 or layers < 1:
            raise ValueError(f"hidden and layers must be >= 1, got {hidden} and {layers}")
        self.minibatch_std = minibatch_std
        self.net = _mlp([3 if minibatch_std else 2, *[hidden] * layers, 1], lambda: nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != 2:
            raise ValueError(f"points must be [N, 2], got {tuple(x.shape)}")
        if self.minibatch_std:
            if len(x) < 2:
                raise ValueError("minibatch_std needs a batch of at least 2 points to measure their spread")
            x = torch.cat([x, x.std(0).mean().expand(len(x), 1)], 1)
        return self.net(x).squeeze(1)


# ---- training ------------------------------------------------------------------------------------------------


class StepResult(NamedTuple):
    """One GAN step's numbers: both losses, and D's mean probability 'real' on the real and the fake batch."""
    d_loss: float
    g_loss: float
    d_real: float
    d_fake: float


def gan_step(G: nn.Module, D: nn.Module, real: torch.Tensor, opt_g: torch.optim.Optimizer,
             opt_d: torch.optim.Optimizer, generator: torch.Generator | None = None) -> StepResult:
    """One round of the game: a D step on a real and a fake batch, then a G step on a fresh fake batch."""
    if not hasattr(G, "latent_dim"):
        raise TypeError("G needs a .latent_dim attribute (the size of z); use genlib.image.gan.Generator or ToyGenerator")
    if len(real) < 2:
        raise ValueError(f"a GAN step needs a batch of at least 2 real items, got {len(real)}")
    n, device = len(real), real.device
    # 1. the discriminator: push D(real) up and D(fake) down; G is held fixed (detach)
    fake = G(torch.randn(n, G.latent_dim, generator=generator).to(device))
    real_logits, fake_logits = D(real), D(fake.detach())
    d_loss = discriminator_loss(real_logits, fake_logits)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    # 2. the generator: make D call fresh fakes real; only G's optimizer steps
    fake = G(torch.randn(n, G.latent_dim, generator=generator).to(device))
    D.requires_grad_(False)                      # D's weights need no gradient here (saves time)
    try:
        g_loss = generator_loss(D(fake))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
    finally:
        D.requires_grad_(True)
    opt_g.step()
    if not (torch.isfinite(d_loss) and torch.isfinite(g_loss)):
        raise FloatingPointError(f"GAN losses became {d_loss.item()} / {g_loss.item()}: lower the learning rate")
    with torch.no_grad():
        return StepResult(d_loss.item(), g_loss.item(), torch.sigmoid(real_logits).mean().item(),
                          torch.sigmoid(fake_logits).mean().item())


def adam_pair(G: nn.Module, D: nn.Module, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999)
              ) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """The DCGAN paper's optimizers: Adam with lr 2e-4 and beta1 = 0.5 (less momentum: the target keeps moving)."""
    return torch.optim.Adam(G.parameters(), lr=lr, betas=betas), torch.optim.Adam(D.parameters(), lr=lr, betas=betas)


def train_gan(G: nn.Module, D: nn.Module, batches: Callable[[], torch.Tensor], steps: int,
              opt_g: torch.optim.Optimizer | None = None, opt_d: torch.optim.Optimizer | None = None,
              generator: torch.Generator | None = None, progress: bool = True,
              history: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """Play `steps` rounds of gan_step on batches() of real data; returns every step's numbers by name.

    The course's one loop (genlib.train.train) runs it, with gan_step as its custom step. Without optimizers it
    makes adam_pair(G, D). Pass `history` (and the same optimizers) to continue a run.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if opt_g is None or opt_d is None:
        opt_g, opt_d = adam_pair(G, D)
    history = history if history is not None else {k: [] for k in StepResult._fields}

    def step_fn(_: nn.Module, real: torch.Tensor) -> dict[str, float]:
        result = gan_step(G, D, real, opt_g, opt_d, generator)
        for k, v in result._asdict().items():
            history[k].append(v)
        return {"loss": result.d_loss, "g_loss": result.g_loss}

    train(nn.ModuleDict({"G": G, "D": D}), None, batches, steps=steps, optimizer=[opt_g, opt_d], step_fn=step_fn,
          progress=progress, desc="GAN training")
    return history


# ---- measuring mode collapse on the ring of Gaussians ----------------------------------------------------------


class ModeCoverage(NamedTuple):
    """How many modes the samples cover, and the share of samples close to some mode ('high quality')."""
    modes_covered: int
    high_quality: float
    counts: list[int]


def ring_centres(modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """The centres [modes, 2] of genlib.data.ring_of_gaussians, evenly spaced on a circle starting at angle 0."""
    if modes < 1:
        raise ValueError(f"modes must be >= 1, got {modes}")
    angle = 2 * torch.pi * torch.arange(modes) / modes
    return radius * torch.stack([torch.cos(angle), torch.sin(angle)], 1)


def mode_coverage(samples: torch.Tensor, centres: torch.Tensor, std: float, k: float = 3.0,
                  min_share: float = 0.01) -> ModeCoverage:
    """Count modes that get at least `min_share` of the samples within `k` std of their centre (Srivastava et al., 2017)."""
    if samples.dim() != 2 or centres.dim() != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples [N, D] and centres [M, D] must share D, got {tuple(samples.shape)} and {tuple(centres.shape)}")
    if std <= 0 or k <= 0:
        raise ValueError(f"std and k must be positive, got std={std}, k={k}")
    dist = torch.cdist(samples.detach().float().cpu(), centres.float().cpu())
    nearest_dist, nearest = dist.min(1)
    close = nearest_dist <= k * std
    counts = torch.bincount(nearest[close], minlength=len(centres))
    covered = int((counts >= min_share * len(samples)).sum())
    return ModeCoverage(covered, close.float().mean().item(), counts.tolist())
