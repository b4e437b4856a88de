"""Image-to-image (SDEdit) and inpainting: the ends of the strength range, kept pixels, an exact model, errors."""
import pytest
import torch

from genlib.diffusion import alphas_cumprod, linear_betas, q_sample, sample
from genlib.diffusion.editing import inpaint, sdedit

AB = alphas_cumprod(linear_betas())


class ExactEps(torch.nn.Module):
    """The true noise predictor when every training image is the constant picture c."""

    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, x, t):
        ab = AB[t.long()].float().reshape(-1, 1, 1, 1)
        return (x - ab.sqrt() * self.c) / (1 - ab).sqrt()


def test_sdedit_strength_zero_keeps_one_resamples_and_between_moves_part_way():
    c = torch.full((1, 1, 8, 8), 0.5)
    model = ExactEps(c)
    x0 = torch.rand(3, 1, 8, 8) * 2 - 1
    torch.testing.assert_close(sdedit(model, x0, 0.0, 20, alphas_cumprod=AB), x0)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    full = sdedit(model, x0, 1.0, 20, alphas_cumprod=AB, generator=g())
    noise = torch.randn(x0.shape, generator=g())
    ref = sample(model, x0.shape, "ddim", 20, alphas_cumprod=AB, x_T=q_sample(x0, torch.full((3,), 999), AB, noise),
                 progress=False).x
    torch.testing.assert_close(full, ref)
    torch.testing.assert_close(full, c.expand_as(x0), atol=1e-3, rtol=0)   # the exact model always lands on c
    part = sdedit(model, x0, 0.3, 20, alphas_cumprod=AB, generator=g())
    torch.testing.assert_close(part, c.expand_as(x0), atol=1e-3, rtol=0)   # ...from any starting level


def test_inpainting_keeps_the_unmasked_pixels_and_fills_the_rest():
    c = torch.full((1, 1, 8, 8), -0.25)
    x0 = torch.rand(2, 1, 8, 8) * 2 - 1
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    out = inpaint(ExactEps(c), x0, mask, 25, alphas_cumprod=AB, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[..., mask[0, 0] == 0], x0[..., mask[0, 0] == 0])   # kept to the bit
    assert (out[..., mask[0, 0] == 1] - x0[..., mask[0, 0] == 1]).abs().mean() > 0.1   # redrawn


def test_editing_errors_name_the_fix():
    x0 = torch.zeros(2, 1, 8, 8)
    for bad in (-0.1, 1.5, True):
        with pytest.raises(ValueError, match=r"strength must lie in \[0, 1\]"):
            sdedit(ExactEps(x0[:1]), x0, bad, 10, alphas_cumprod=AB)
    with pytest.raises(ValueError, match=r"mask must be \[N or 1, 1, 8, 8\]"):
        inpaint(ExactEps(x0[:1]), x0, torch.zeros(2, 8, 8), 10, alphas_cumprod=AB)
