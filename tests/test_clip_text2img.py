"""The tiny CLIP of the shapes and the text-conditional U-Net: shapes, the contrastive loss, learning, errors."""
import pytest
import torch

from genlib.data.shapes import MAX_WORDS, encode_captions, make_shapes
from genlib.diffusion.guidance import Guided
from genlib.image.clip import TinyClip, clip_loss, retrieval_accuracy, text_context
from genlib.image.unet import UNet

TINY = dict(in_channels=3, base_channels=8, groups=4, heads=2, time_dim=32, context_dim=16)


def test_clip_loss_is_low_for_matched_pairs_and_log_n_for_indifference():
    n = 8
    assert clip_loss(torch.zeros(n, n)).item() == pytest.approx(torch.log(torch.tensor(float(n))).item())
    assert clip_loss(20 * torch.eye(n)).item() < 1e-6
    assert clip_loss(20 * torch.eye(n).flip(0)).item() > 10


def test_a_few_clip_steps_beat_chance_at_retrieval():
    torch.manual_seed(0)
    x, caps, _ = make_shapes(512, "train", seed=0)
    ids = encode_captions(caps)
    model = TinyClip()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        i = torch.randint(512, (64,), generator=g)
        loss = clip_loss(model(x[i], ids[i]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    vx, vcaps, _ = make_shapes(100, "train", seed=5)
    acc = retrieval_accuracy(model.eval(), vx, encode_captions(vcaps))
    assert acc > 0.1  # chance is about 1/100


def test_text_context_is_zero_at_padding_and_feeds_the_unet():
    clip = TinyClip(dict(width=16, embed_dim=8, channels=8, heads=2)).eval()
    ids = encode_captions(["a small red circle on the left", "a large blue square above a small red circle"])
    ctx = text_context(clip, ids)
    assert ctx.shape == (2, MAX_WORDS, 16) and (ctx[0, 7:] == 0).all() and (ctx[0, :7] != 0).any()
    torch.manual_seed(0)
    net = UNet(**TINY)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
        x = torch.randn(2, 3, 32, 32)
        with_text, without = net(x, 300, ctx), net(x, 300)
        assert with_text.shape == x.shape and not torch.allclose(with_text, without, atol=1e-4)
        torch.testing.assert_close(net(x, 300, torch.zeros_like(ctx)), without)  # zeros = no text
        guided = Guided(net, ctx, torch.zeros(MAX_WORDS, 16), 3.0)(x, 300)
        torch.testing.assert_close(guided, without + 3 * (with_text - without), atol=1e-5, rtol=1e-5)


def test_text_unet_and_clip_errors_name_the_fix():
    net = UNet(**TINY)
    with pytest.raises(ValueError, match=r"context must be text tokens \[N=2, L, 16\]"):
        net(torch.randn(2, 3, 32, 32), 5, torch.randn(2, 10, 8))
    with pytest.raises(ValueError, match="labels .* or text .* not both"):
        UNet(num_classes=10, context_dim=16)
    clip = TinyClip()
    with pytest.raises(ValueError, match="word ids"):
        clip.embed_text(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"images \[N, 3, 32, 32\]"):
        clip.embed_images(torch.zeros(2, 1, 28, 28))
