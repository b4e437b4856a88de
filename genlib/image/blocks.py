"""Small building blocks shared by the image notebooks."""
from __future__ import annotations

from torch import nn


class MLP(nn.Sequential):
    """A multilayer perceptron: Linear layers of the given sizes with an activation between them (not after the last)."""

    def __init__(self, sizes: list[int], activation: type[nn.Module] = nn.ReLU, flatten: bool = True):
        if len(sizes) < 2:
            raise ValueError(f"sizes needs an input and an output size, got {sizes}")
        layers: list[nn.Module] = [nn.Flatten()] if flatten else []
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(activation())
        super().__init__(*layers)
