"""A small CNN that classifies MNIST digits; its penultimate features are the "eyes" our FID looks through.

FID for ImageNet-like images uses Inception-v3 features. Those weights are large and must be downloaded, and
they were never trained on digits, so this course measures MNIST samples with its own classifier instead:
same formula (genlib.metrics.frechet_distance), features a network trained on digits finds meaningful.
"""
from __future__ import annotations

import torch
from torch import nn

from genlib.image.shapes import check_image_shape

FEATURE_DIM = 128


def check_mnist_images(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Raise a clear error unless `images` is a float [N, 1, 28, 28] tensor with values in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    check_image_shape(images, name)
    if not images.is_floating_point():
        raise ValueError(f"{name} must be floats in [0, 1], got dtype {images.dtype}; "
                         "convert uint8 pixels with images.float() / 255")
    if len(images) and not torch.isfinite(images).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    if len(images):
        lo, hi = images.min().item(), images.max().item()
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(f"{name} must lie in [0, 1], got values in [{lo:.3f}, {hi:.3f}]; "
                             "map [-1, 1] images with (x + 1) / 2, or pass probabilities (sigmoid of logits), not logits")
    return images


class MnistClassifier(nn.Module):
    """Three 3x3 conv layers (16, 32, 64 channels, two 2x2 max-pools), a 128-unit hidden layer, 10 logits."""

    def __init__(self, width: int = 16, feature_dim: int = FEATURE_DIM, dropout: float = 0.3):
        super().__init__()
        w = width
        self.conv = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),            # 28 -> 14
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 14 -> 7
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(), nn.Flatten(),   # 7 x 7 x 4w
        )
        self.fc = nn.Linear(4 * w * 7 * 7, feature_dim)
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(feature_dim, 10))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 128 penultimate activations (before the ReLU, so closer to Gaussian), as FID uses them."""
        return self.fc(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Ten digit logits."""
        return self.head(self.features(x))


def random_shift(images: torch.Tensor, max_shift: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image by up to `max_shift` pixels in x and y (zero fill): cheap augmentation for digits."""
    n = len(images)
    pad = nn.functional.pad(images, (max_shift,) * 4)
    dx, dy = (torch.randint(0, 2 * max_shift + 1, (n,), generator=generator) for _ in range(2))
    rows = (dy[:, None] + torch.arange(28)[None]).to(images.device)   # [N, 28]
    cols = (dx[:, None] + torch.arange(28)[None]).to(images.device)
    idx_n = torch.arange(n, device=images.device)[:, None, None]
    return pad[idx_n, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Share of images whose highest logit is the right label (model in eval mode, in batches)."""
    check_mnist_images(images)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = sum((model(images[i:i + batch_size].to(device)).argmax(1).cpu() == labels[i:i + batch_size].cpu())
                  .sum().item() for i in range(0, len(images), batch_size))
    model.train(was_training)
    return correct / len(images)
