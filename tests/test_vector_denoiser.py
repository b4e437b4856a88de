"""The vector denoiser: learns a 2-D toy with the course's DDPM loss and samplers, and with flow matching."""
import pytest
import torch

from genlib.data.toy2d import ring_of_gaussians
from genlib.diffusion import alphas_cumprod, linear_betas, sample
from genlib.diffusion.ddpm import noise_prediction_loss
from genlib.diffusion.flow import TimeScaled, flow_matching_loss, sample_flow
from genlib.diffusion.vector import VectorDenoiser


def on_ring(x, radius=2.0):
    return ((x.norm(dim=1) - radius).abs() < 0.4).float().mean().item()


@pytest.mark.parametrize("objective", ["ddpm", "flow"])
def test_learns_the_ring_of_gaussians(objective):
    torch.manual_seed(0)
    data = ring_of_gaussians(4000, seed=0)
    model = VectorDenoiser(2, hidden=64, depth=2)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    ab = alphas_cumprod(linear_betas(1000))
    flow = TimeScaled(model)
    for _ in range(600):
        x = data[torch.randint(len(data), (256,))]
        loss = noise_prediction_loss(model, x, ab) if objective == "ddpm" else flow_matching_loss(flow, x)
        opt.zero_grad(); loss.backward(); opt.step()  # noqa: E702
    with torch.no_grad():
        if objective == "ddpm":
            out = sample(model, (1000, 2), "dpmpp_2m", 20, alphas_cumprod=ab, karras=True, progress=False,
                         generator=torch.Generator().manual_seed(0)).x
        else:
            out = sample_flow(flow, torch.randn(1000, 2, generator=torch.Generator().manual_seed(0)), 20, "heun")[0]
    assert on_ring(out) > 0.8 and on_ring(torch.randn(1000, 2)) < 0.4


def test_vector_denoiser_errors():
    with pytest.raises(ValueError, match=r"vectors \[N, 3\]"):
        VectorDenoiser(3)(torch.zeros(2, 2), 5)
