"""The diffusion transformer: patches in and out, adaLN-Zero's start, conditioning, and a U-Net-sized default."""
import pytest
import torch
import torch.nn.functional as F

from genlib.image.dit import DiT, sincos_positions, unpatchify
from genlib.image.unet import UNet, count_parameters


def test_unpatchify_inverts_unfold():
    x = torch.randn(2, 3, 12, 12)
    tokens = F.unfold(x, 4, stride=4).transpose(1, 2)        # [2, 9, 48]
    torch.testing.assert_close(unpatchify(tokens, 4, 3), x)


def test_default_dit_matches_the_unet_in_size_and_starts_at_zero():
    dit = DiT()
    assert 0.8 < count_parameters(dit) / count_parameters(UNet()) < 1.25
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        out = dit(x, torch.tensor([1, 500, 999]))
    assert out.shape == x.shape and out.abs().max() == 0       # adaLN-Zero: the prediction starts at zero


def test_dit_hears_time_and_labels_once_trained_a_little():
    torch.manual_seed(0)
    dit = DiT(num_classes=10, width=32, depth=2)
    with torch.no_grad():
        for p in dit.parameters():
            p.add_(0.05 * torch.randn_like(p))
        x = torch.randn(2, 1, 28, 28)
        a, b = dit(x, 100, torch.tensor([1, 2])), dit(x, 100, torch.tensor([3, 4]))
        c = dit(x, 900, torch.tensor([1, 2]))
    assert not torch.allclose(a, b) and not torch.allclose(a, c)
    pos = sincos_positions(4, 8)
    assert pos.shape == (16, 8) and len({tuple(r.tolist()) for r in pos}) == 16   # every patch its own position


def test_dit_errors():
    with pytest.raises(ValueError, match="divisible by patch_size"):
        DiT(image_size=28, patch_size=3)
    with pytest.raises(ValueError, match="unconditional"):
        DiT(width=32, depth=1)(torch.randn(1, 1, 28, 28), 5, torch.tensor([1]))
    with pytest.raises(ValueError):
        DiT(width=32, depth=1)(torch.randn(1, 1, 32, 32), 5)
