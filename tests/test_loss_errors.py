"""Losses that take logits name the wrong dtype they got and the fix."""
import pytest
import torch

from genlib.image.gan import discriminator_loss, generator_loss


def test_gan_losses_reject_integer_logits_naming_dtype_and_fix():
    with pytest.raises(TypeError, match=r"got dtype torch.int64; pass fake_logits.float\(\)"):
        generator_loss(torch.tensor([1, 0, 1]))
    with pytest.raises(TypeError, match=r"got dtype torch.int64; pass real_logits.float\(\)"):
        discriminator_loss(torch.tensor([1, 0]), torch.zeros(2))
    assert torch.isfinite(generator_loss(torch.tensor([1, 0, 1]).float()))
