"""A tiny CLIP (Radford et al. 2021) for the captioned shapes: a text encoder and an image encoder trained so that
a picture and its caption land on nearby unit vectors, and mismatched pairs do not (a contrastive loss).

The text encoder is what a text-to-image model reads: its per-word outputs are the keys and values of the
denoiser's cross-attention (Stable Diffusion uses CLIP's text encoder the same way), so it is trained first and
then frozen.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlib.data.shapes import MAX_WORDS, SIZE, WORDS

Tensor = torch.Tensor


@dataclass
class ClipConfig:
    """Sizes of the two encoders; the defaults give about 0.3M parameters."""
    width: int = 64       # the text encoder's token width (the denoiser's cross-attention reads this)
    layers: int = 2
    heads: int = 4
    embed_dim: int = 64   # the shared space where pictures and captions meet
    channels: int = 32    # the image encoder's first convolution

    def to_dict(self) -> dict:
        return asdict(self)


class TextEncoder(nn.Module):
    """Word ids [N, L] (0 = padding) -> token features [N, L, width] and one caption vector [N, width]."""

    def __init__(self, cfg: ClipConfig):
        super().__init__()
        self.embed = nn.Embedding(len(WORDS), cfg.width)
        self.pos = nn.Parameter(torch.zeros(MAX_WORDS, cfg.width))
        layer = nn.TransformerEncoderLayer(cfg.width, cfg.heads, 4 * cfg.width, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.width)

    def forward(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        if ids.dim() != 2 or ids.shape[1] != MAX_WORDS or ids.is_floating_point():
            raise ValueError(f"the text encoder takes word ids [N, {MAX_WORDS}] from genlib.data.shapes."
                             f"encode_captions, got {ids.dtype} of shape {tuple(ids.shape)}")
        pad = ids == 0
        h = self.norm(self.blocks(self.embed(ids) + self.pos, src_key_padding_mask=pad))
        keep = (~pad).unsqueeze(-1).float()
        return h, (h * keep).sum(1) / keep.sum(1).clamp(min=1)  # the caption vector: the mean over its words


class ImageEncoder(nn.Module):
    """Images [N, 3, 32, 32] in [0, 1] -> one vector each; three strided convolutions, then a linear layer over
    the whole 4 x 4 map (not an average: where a shape lies is part of what the caption says)."""

    def __init__(self, cfg: ClipConfig):
        super().__init__()
        c = cfg.channels
        self.convs = nn.Sequential(nn.Conv2d(3, c, 3, 2, 1), nn.GELU(), nn.Conv2d(c, 2 * c, 3, 2, 1), nn.GELU(),
                                   nn.Conv2d(2 * c, 4 * c, 3, 2, 1), nn.GELU())
        self.out = nn.Linear(4 * c * (SIZE // 8) ** 2, cfg.embed_dim)

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() != 4 or images.shape[1:] != (3, SIZE, SIZE):
            raise ValueError(f"the image encoder takes images [N, 3, {SIZE}, {SIZE}] in [0, 1], got shape "
                             f"{tuple(images.shape)}")
        return self.out(self.convs(images).flatten(1))


class TinyClip(nn.Module):
    """Both encoders and the learned temperature of the contrastive loss."""

    def __init__(self, config: ClipConfig | dict | None = None):
        super().__init__()
        cfg = ClipConfig(**config) if isinstance(config, dict) else config or ClipConfig()
        self.config = cfg
        self.text, self.image = TextEncoder(cfg), ImageEncoder(cfg)
        self.text_proj = nn.Linear(cfg.width, cfg.embed_dim)
        self.log_scale = nn.Parameter(torch.tensor(2.66))  # exp(2.66) = 14.3 = 1 / 0.07, CLIP's starting temperature

    def embed_text(self, ids: Tensor) -> Tensor:
        """Unit vectors [N, embed_dim] for captions."""
        return F.normalize(self.text_proj(self.text(ids)[1]), dim=-1)

    def embed_images(self, images: Tensor) -> Tensor:
        """Unit vectors [N, embed_dim] for pictures."""
        return F.normalize(self.image(images), dim=-1)

    def forward(self, images: Tensor, ids: Tensor) -> Tensor:
        """The similarity logits [N, N] of every picture with every caption, scaled by the temperature."""
        return self.log_scale.exp().clamp(max=100) * self.embed_images(images) @ self.embed_text(ids).T


def clip_loss(logits: Tensor) -> Tensor:
    """CLIP's symmetric cross-entropy: picture i should pick caption i among the batch's, and caption i picture i."""
    target = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


@torch.no_grad()
def retrieval_accuracy(model: TinyClip, images: Tensor, ids: Tensor) -> float:
    """Share of pictures whose own caption is the most similar among all len(images) captions given (chance:
    1/N for N distinct captions)."""
    sims = model.embed_images(images) @ model.embed_text(ids).T
    same = (ids[:, None, :] == ids[None, :, :]).all(-1)  # a repeated caption is as right as the picture's own
    return same[torch.arange(len(ids)), sims.argmax(1)].float().mean().item()


@torch.no_grad()
def text_context(model: TinyClip, ids: Tensor) -> Tensor:
    """What a text-to-image denoiser reads: the text encoder's per-word features [N, L, width], zero at padding
    (all zeros is "no text", the null condition of classifier-free guidance)."""
    h, _ = model.text(ids)
    return h * (ids != 0).unsqueeze(-1)


def load_shapes_clip(device: torch.device | str = "cpu") -> TinyClip:
    """The shipped tiny CLIP of the shapes (checkpoint 'shapes_clip', hash-checked), frozen in eval mode."""
    from genlib.checkpoints import load_checkpoint, read_manifest
    entry = read_manifest().get("shapes_clip")
    if entry is None:
        raise KeyError("no checkpoint 'shapes_clip' in checkpoints/manifest.json: train it with "
                       "`python scripts/train_text2img.py`")
    model = TinyClip(entry["settings"]["clip"]).to(device)
    load_checkpoint("shapes_clip", model)
    return model.eval().requires_grad_(False)
