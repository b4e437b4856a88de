"""Toy 2-D distributions made in code: small enough to see every point, shaped to make models struggle."""
from __future__ import annotations

import math

import torch


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _check_n(n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")


def two_moons(n: int = 1000, noise: float = 0.1, seed: int = 0) -> torch.Tensor:
    """Two interleaved half circles, [n, 2], roughly centred on the origin."""
    _check_n(n)
    g = _gen(seed)
    upper = torch.rand(n, generator=g) < 0.5
    t = torch.rand(n, generator=g) * math.pi
    x = torch.where(upper, torch.cos(t), 1 - torch.cos(t))
    y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
    pts = torch.stack([x - 0.5, y - 0.25], 1)
    return pts + noise * torch.randn(n, 2, generator=g)


def ring_of_gaussians(n: int = 1000, modes: int = 8, radius: float = 2.0, std: float = 0.1, seed: int = 0) -> torch.Tensor:
    """`modes` small Gaussians evenly spaced on a circle: the classic test for mode collapse, [n, 2]."""
    _check_n(n)
    g = _gen(seed)
    k = torch.randint(modes, (n,), generator=g)
    angle = 2 * math.pi * k / modes
    centres = radius * torch.stack([torch.cos(angle), torch.sin(angle)], 1)
    return centres + std * torch.randn(n, 2, generator=g)


def spiral(n: int = 1000, noise: float = 0.05, turns: float = 1.5, seed: int = 0) -> torch.Tensor:
    """A noisy spiral arm winding out from the origin, [n, 2], scaled to about [-1, 1]."""
    _check_n(n)
    g = _gen(seed)
    r = torch.rand(n, generator=g).sqrt()
    theta = 2 * math.pi * turns * r
    pts = torch.stack([r * torch.cos(theta), r * torch.sin(theta)], 1)
    return pts + noise * torch.randn(n, 2, generator=g)


TOYS = {"two_moons": two_moons, "ring": ring_of_gaussians, "spiral": spiral}


def make_toy(name: str, n: int = 1000, seed: int = 0) -> torch.Tensor:
    """One of the toy data sets by name: 'two_moons', 'ring' or 'spiral'."""
    if name not in TOYS:
        raise ValueError(f"unknown toy data set {name!r}: choose one of {', '.join(TOYS)}")
    return TOYS[name](n=n, seed=seed)
