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


def test_next_token_loss_rejects_integer_logits_naming_dtype_and_fix():
    from genlib.text.lm import next_token_loss
    x = torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(TypeError, match=r"got dtype torch.int64; return logits.float\(\)"):
        next_token_loss(lambda t: torch.ones(*t.shape, 5, dtype=torch.long), (x, x))
    assert abs(next_token_loss(lambda t: torch.zeros(*t.shape, 5), (x, x)).item() - torch.tensor(5.0).log().item()) < 1e-6


def test_bernoulli_log_likelihood_rejects_integer_tensors_naming_dtype_and_fix():
    from genlib.image.vae import bernoulli_log_likelihood
    with pytest.raises(TypeError, match=r"got dtypes torch.int64 and torch.float32; pass logits.float\(\)"):
        bernoulli_log_likelihood(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 4))
    with pytest.raises(TypeError, match=r"and torch.uint8; .*images.float\(\)"):
        bernoulli_log_likelihood(torch.zeros(2, 4), torch.zeros(2, 4, dtype=torch.uint8))
