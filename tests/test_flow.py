"""Flow matching: the straight path, the loss's target, the solvers' order and step counts, reflow, errors."""
import pytest
import torch
from torch import nn

from genlib.diffusion.flow import TimeScaled, flow_images, flow_matching_loss, interpolate, load_flow_mnist, sample_flow


class Exact(nn.Module):
    """The exact velocity for data that is one point c: v(x, t) = (c - x) / (1 - t) (every path ends at c)."""

    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, x, t):
        return (self.c - x) / (1 - t[:, None]).clamp(min=1e-6)


class Rotate(nn.Module):
    """A curved field, dx/dt = A x (a rotation): the exact flow is known, so solver errors can be measured."""

    def forward(self, x, t):
        return torch.stack([-x[:, 1], x[:, 0]], 1)


def test_interpolation_and_the_loss_target():
    x0, x1 = torch.randn(5, 3), torch.randn(5, 3)
    torch.testing.assert_close(interpolate(x0, x1, torch.zeros(5)), x0)
    torch.testing.assert_close(interpolate(x0, x1, torch.ones(5)), x1)
    perfect = lambda x, t: x1 - x0  # noqa: E731  (the target itself: zero loss)
    assert flow_matching_loss(perfect, x1, x0=x0).item() == 0
    assert flow_matching_loss(lambda x, t: torch.zeros_like(x), x1, x0=x0).item() == pytest.approx(
        (x1 - x0).pow(2).mean().item())


def test_euler_is_exact_on_straight_paths_and_heun_is_second_order_on_curved_ones():
    c = torch.tensor([[2.0, -1.0]])
    x0 = torch.randn(4, 2)
    x1, nfe = sample_flow(Exact(c), x0, 1)        # a straight path: one Euler step lands exactly
    torch.testing.assert_close(x1, c.expand(4, 2))
    assert nfe == 1
    x0 = torch.tensor([[1.0, 0.0]])
    exact = torch.tensor([[torch.cos(torch.tensor(1.0)), torch.sin(torch.tensor(1.0))]])
    err = {(s, n): (sample_flow(Rotate(), x0, n, s)[0] - exact).norm().item() for s in ("euler", "heun") for n in (10, 20)}
    assert 1.8 < err["euler", 10] / err["euler", 20] < 2.2    # first order: half the step, half the error
    assert 3.6 < err["heun", 10] / err["heun", 20] < 4.4      # second order: a quarter
    assert sample_flow(Rotate(), x0, 10, "heun")[1] == 20


def test_a_small_flow_model_learns_two_gaussians_and_reflow_straightens_it():
    torch.manual_seed(0)
    def data(n):  # two small Gaussians, at (-2, 0) and (2, 0)
        side = torch.randint(0, 2, (n, 1)) * 4.0 - 2
        return torch.randn(n, 2) * 0.1 + torch.cat([side, torch.zeros(n, 1)], 1)
    net = nn.Sequential(nn.Linear(3, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 2))
    model = lambda x, t: net(torch.cat([x, t[:, None]], 1))  # noqa: E731
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(800):
        loss = flow_matching_loss(model, data(256))
        opt.zero_grad(); loss.backward(); opt.step()  # noqa: E702
    x0 = torch.randn(2000, 2)
    x1, _ = sample_flow(model, x0, 50)
    assert ((x1[:, 0].abs() - 2).abs() < 0.5).float().mean() > 0.9       # samples land on the two modes
    one_step, _ = sample_flow(model, x0, 1)
    before = (one_step - x1).norm(dim=1).mean().item()
    for _ in range(500):                                                 # reflow on (noise, own sample) pairs
        i = torch.randint(2000, (256,))
        loss = flow_matching_loss(model, x1[i], x0=x0[i])
        opt.zero_grad(); loss.backward(); opt.step()  # noqa: E702
    after = (sample_flow(model, x0, 1)[0] - x1).norm(dim=1).mean().item()
    assert after < before / 2                                            # one step now lands near the 50-step answer


def test_time_scaled_and_errors():
    seen = []
    TimeScaled(lambda x, t: seen.append(t) or x, 1000.0)(torch.zeros(2, 1), torch.tensor([0.25, 1.0]))
    torch.testing.assert_close(seen[0], torch.tensor([250.0, 1000.0]))
    with pytest.raises(ValueError, match="solver must be one of"):
        sample_flow(Rotate(), torch.zeros(1, 2), 5, "rk4")
    with pytest.raises(ValueError, match="steps must be a whole number"):
        sample_flow(Rotate(), torch.zeros(1, 2), 0)
    with pytest.raises(ValueError, match="same shape"):
        flow_matching_loss(Rotate(), torch.zeros(2, 2), x0=torch.zeros(3, 2))


class Drift(nn.Module):
    """A velocity that pushes everything up by 3: after t = 1 the noise has moved by 3, in any number of steps."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x, t):
        return torch.full_like(x, 3.0)


def test_flow_images_start_every_solver_from_the_same_noise_and_clamp_to_pixels():
    a, nfe_a = flow_images(Drift(), 5, "euler", 4, seed=1, batch_size=2)
    b, nfe_b = flow_images(Drift(), 5, "heun", 2, seed=1)
    assert (nfe_a, nfe_b) == (4, 4) and a.shape == (5, 1, 28, 28)
    torch.testing.assert_close(a, b)                                   # a constant field: solvers agree exactly
    x0 = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, ((x0 + 3).clamp(-1, 1) + 1) / 2)     # [-1, 1] mapped to [0, 1]


def test_load_flow_mnist_names_the_architectures():
    with pytest.raises(ValueError, match="arch must be one of"):
        load_flow_mnist("mlp")
