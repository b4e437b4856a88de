"""Flow matching (Lipman et al. 2023) and rectified flow (Liu et al. 2023): learn a velocity field that carries
noise to data along straight lines, then sample by integrating it with an ODE solver.

Time runs from t = 0 (pure noise x0) to t = 1 (data x1), the convention of Meta's `flow_matching` library: the
training point is x_t = (1 - t) x0 + t x1 and the target velocity is x1 - x0, the same at every t of one pair.
Reflow trains again on pairs (noise, the model's own sample from it), which straightens the paths so that one or
two Euler steps land close to where many steps would.
"""
from __future__ import annotations

import torch
from torch import nn

Tensor = torch.Tensor
SOLVERS = ("euler", "heun")
ARCHS = ("unet", "dit")  # the image networks notebook 19 trains with flow matching


def _per_item(t: Tensor, like: Tensor) -> Tensor:
    return t.reshape(-1, *[1] * (like.dim() - 1)).to(like.device, like.dtype)


def interpolate(x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
    """The point at time t [N] on the straight line from noise x0 to data x1."""
    return (1 - _per_item(t, x1)) * x0 + _per_item(t, x1) * x1


def flow_matching_loss(model: nn.Module, x1: Tensor, x0: Tensor | None = None, t: Tensor | None = None,
                       generator: torch.Generator | None = None) -> Tensor:
    """Conditional flow matching: MSE between model(x_t, t) and x1 - x0, with t uniform in [0, 1] and x0 standard
    noise unless given (reflow gives x0: the noise its pair's sample came from)."""
    if x1.dim() < 2:
        raise ValueError(f"x1 must be a batch [N, ...] of data, got shape {tuple(x1.shape)}")
    if x0 is None:
        x0 = torch.randn(x1.shape, generator=generator).to(x1.device, x1.dtype)
    if x0.shape != x1.shape:
        raise ValueError(f"noise x0 {tuple(x0.shape)} and data x1 {tuple(x1.shape)} must have the same shape")
    if t is None:
        t = torch.rand(len(x1), generator=generator)
    t = t.to(x1.device, x1.dtype)
    return (model(interpolate(x0, x1, t), t) - (x1 - x0)).pow(2).mean()


@torch.no_grad()
def sample_flow(model: nn.Module, x0: Tensor, steps: int, solver: str = "euler") -> tuple[Tensor, int]:
    """Integrate dx/dt = model(x, t) from t = 0 to 1 in `steps` equal steps: (x at t = 1, model evaluations).

    euler: x += h v(x, t), one evaluation per step; heun: the average of the slopes at both ends of the step (the
    end one at Euler's guess), two evaluations per step, second-order accurate."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a whole number >= 1, got {steps!r}")
    x, h, nfe = x0, 1.0 / steps, 0
    for i in range(steps):
        t = torch.full((len(x),), i * h, device=x.device)
        v = model(x, t)
        nfe += 1
        if solver == "heun":
            v_end = model(x + h * v, t + h)
            nfe += 1
            v = (v + v_end) / 2
        x = x + h * v
    return x, nfe


@torch.no_grad()
def flow_images(model: nn.Module, n: int, solver: str = "euler", steps: int = 10, *, seed: int = 0,
                shape: tuple[int, ...] = (1, 28, 28), batch_size: int = 250) -> tuple[Tensor, int]:
    """n images in [0, 1] (CPU) from a flow model on [-1, 1] images, from the noise of `seed` (the same noise for
    every solver and step count), in batches; and the model evaluations per image."""
    x0 = torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed))
    device = next(model.parameters()).device
    out, nfe = [], 0
    for i in range(0, n, batch_size):
        x, nfe = sample_flow(model, x0[i:i + batch_size].to(device), steps, solver)
        out.append(((x.clamp(-1, 1) + 1) / 2).cpu())
    return torch.cat(out), nfe


class TimeScaled(nn.Module):
    """A network that expects diffusion timesteps (0..1000) called with flow time t in [0, 1]: net(x, scale * t)."""

    def __init__(self, net: nn.Module, scale: float = 1000.0):
        super().__init__()
        self.net, self.scale = net, scale

    def forward(self, x: Tensor, t: Tensor, *cond) -> Tensor:
        return self.net(x, self.scale * t, *cond)


def flow_network(arch: str, config: dict | None = None) -> TimeScaled:
    """A fresh image network by architecture name ('unet' or 'dit') and config (None: its defaults), wrapped to take
    flow time t in [0, 1]: what scripts/train_flow.py trains and load_flow_mnist loads."""
    from genlib.image.dit import DiT
    from genlib.image.unet import UNet
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    return TimeScaled({"unet": UNet, "dit": DiT}[arch](config))


def load_flow_mnist(arch: str = "unet", device: torch.device | str | None = None) -> tuple[nn.Module, dict]:
    """Notebook 19's shipped flow-matching MNIST model (arch 'unet' or 'dit'; hash-checked, eval mode), called as
    model(x, t) with flow time t in [0, 1], and its manifest entry."""
    from genlib.checkpoints import load_checkpoint, read_manifest
    from genlib.device import get_device
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    name = f"flow_mnist_{arch}"
    entry = read_manifest().get(name)
    if entry is None:
        raise KeyError(f"no checkpoint {name!r} in checkpoints/manifest.json: train it with "
                       f"`python scripts/train_flow.py --arch {arch}` (60 minutes on one CPU core)")
    model = flow_network(arch, entry["settings"]["model"])
    model = model.to(get_device(device) if device is None or isinstance(device, str) else device)
    load_checkpoint(name, model.net)
    return model.eval().requires_grad_(False), entry
