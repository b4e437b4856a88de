"""One shape check for image batches, whose error names the mistake actually made and its fix.

A missing channel axis, a colour image, channels-last layout and a wrong size are different mistakes with
different fixes; telling all of them to `unsqueeze(1)` sends a learner the wrong way.
"""
from __future__ import annotations

import torch


def _size_advice(h: int, w: int, size: tuple[int, int] | None, multiple: int | None) -> str:
    if size is not None:
        th, tw = size
        crop = ""
        if h >= th and w >= tw and (h - th) % 2 == 0 and (w - tw) % 2 == 0:
            dh, dw = (h - th) // 2, (w - tw) // 2
            crop = f", or centre-crop with x[..., {dh}:{dh + th}, {dw}:{dw + tw}]"
        return (f"the images are {h}x{w} but must be {th}x{tw}: resize with "
                f"F.interpolate(x, size=({th}, {tw}), mode='bilinear', antialias=True){crop}")
    k = multiple or 1
    th, tw = max(k, round(h / k) * k), max(k, round(w / k) * k)
    return (f"height and width must be divisible by {k}, got {h}x{w}: resize with "
            f"F.interpolate(x, size=({th}, {tw}), mode='bilinear', antialias=True) or pad with F.pad")


def check_image_shape(x: torch.Tensor, name: str = "images", channels: int = 1,
                      size: tuple[int, int] | None = (28, 28), multiple: int | None = None) -> None:
    """Raise a ValueError unless `x` is [N, channels, H, W] with (H, W) == size (or both divisible by `multiple`).

    The message says which mistake it looks like: no channel axis, colour instead of grey, channels last,
    a flattened image, or the wrong height and width.
    """
    want = f"[N, {channels}, {size[0]}, {size[1]}]" if size is not None else \
        f"[N, {channels}, H, W] with H and W divisible by {multiple or 1}"
    shape = tuple(x.shape)
    hint = None
    if x.dim() == 3 and channels == 1:
        hint = "it has no channel axis: add one with x.unsqueeze(1)"
        if size is not None and shape[1:] != tuple(size) or multiple and (shape[1] % multiple or shape[2] % multiple):
            hint += "; then " + _size_advice(shape[1], shape[2], size, multiple)
    elif x.dim() == 2 and size is not None and shape[1] == channels * size[0] * size[1]:
        hint = f"each image is a flat vector: reshape with x.view(-1, {channels}, {size[0]}, {size[1]})"
    elif x.dim() == 4 and shape[1] != channels:
        if shape[-1] in (1, 3, 4, channels) and shape[1] > 4:
            hint = "the channels come last (NHWC): move them with x.permute(0, 3, 1, 2)"
            if channels == 1 and shape[-1] != 1:
                hint += ", then convert colour to grey with x[:, :3].mean(1, keepdim=True)"
        elif channels == 1 and shape[1] in (3, 4):
            hint = (f"it has {shape[1]} colour channels but the model reads grey images: convert with "
                    f"x[:, :3].mean(1, keepdim=True)")
        else:
            hint = f"it has {shape[1]} channels but the model was built for {channels}"
    elif x.dim() == 4:
        h, w = shape[2:]
        if size is not None and (h, w) != tuple(size) or size is None and multiple and (h % multiple or w % multiple):
            hint = _size_advice(h, w, size, multiple)
        else:
            return
    if hint is None:
        hint = f"a batch of images has 4 axes (N, C, H, W), this has {x.dim()}"
    raise ValueError(f"{name} must be {want}, got {shape}; {hint}")
