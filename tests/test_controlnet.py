"""ControlNet: the zero start leaves the base model unchanged, the hint then matters, edge maps and their IoU."""
import pytest
import torch

from genlib.data.shapes import edge_iou, edge_map, make_shapes
from genlib.diffusion.guidance import Guided
from genlib.image.controlnet import ControlNet, Controlled
from genlib.image.unet import UNet

TINY = dict(in_channels=3, base_channels=8, groups=4, heads=2, time_dim=32, context_dim=16)


def base_unet():
    torch.manual_seed(0)
    net = UNet(**TINY)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net.eval()


def test_a_zero_initialised_controlnet_leaves_the_base_output_unchanged():
    base = base_unet()
    control = ControlNet(base)
    x, ctx = torch.randn(2, 3, 32, 32), torch.randn(2, 10, 16)
    hint = edge_map(make_shapes(2, "train")[0])
    with torch.no_grad():
        torch.testing.assert_close(Controlled(base, control, hint)(x, 500, ctx), base(x, 500, ctx), rtol=0, atol=0)
        for z in list(control.zero_skips) + [control.zero_mid, control.hint[-1]]:  # once training moves the zero
            z.weight.add_(0.1 * torch.randn_like(z.weight))                         # layers, the hint matters
        a = Controlled(base, control, hint)(x, 500, ctx)
        b = Controlled(base, control, torch.zeros_like(hint))(x, 500, ctx)
    assert not torch.allclose(a, base(x, 500, ctx)) and not torch.allclose(a, b)
    assert all(p.requires_grad for p in control.parameters())
    with torch.no_grad():  # guidance doubles the batch: the hint follows
        assert Guided(Controlled(base, control, hint), ctx, torch.zeros(10, 16), 2.0)(x, 500).shape == x.shape


def test_edge_maps_outline_the_shapes_and_iou_compares_them():
    x, _, _ = make_shapes(4, "train", seed=3)
    e = edge_map(x)
    assert e.shape == (4, 1, 32, 32) and set(e.unique().tolist()) <= {0.0, 1.0}
    lit = (x.max(1, keepdim=True).values > 0.45)
    assert (e.bool() <= lit).all() and e.sum() < lit.sum()            # outlines are part of the shapes, thinner
    torch.testing.assert_close(edge_iou(e, e), torch.ones(4))
    assert (edge_iou(e, torch.zeros_like(e)) == 0).all()
    shifted = torch.roll(e, 1, dims=-1)
    assert (edge_iou(e, shifted) == 1).all() and (edge_iou(e, shifted, tolerance=0) < 0.7).all()
    a = torch.zeros(1, 1, 4, 4); a[0, 0, 0, :2] = 1
    b = torch.zeros(1, 1, 4, 4); b[0, 0, 0, 1:3] = 1
    assert edge_iou(a, b, tolerance=0).item() == pytest.approx(1 / 3)   # one shared pixel of three


def test_controlnet_errors_name_the_fix():
    base = base_unet()
    control = ControlNet(base)
    with pytest.raises(ValueError, match=r"control image must be \[N=2, 1, 32, 32\]"):
        control(torch.randn(2, 3, 32, 32), 5, None, torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match="edge_map takes images"):
        edge_map(torch.zeros(2, 1, 32, 32))
