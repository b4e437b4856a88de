"""Numbers that say how good a generative model is: likelihood in nats and bits, and novelty (distance to the training set)."""
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
