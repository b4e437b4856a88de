"""MNIST from the bundled 10k file, split 9,000 / 1,000 stratified by label; the full 60k via torchvision when online."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from genlib.data.files import bundled_path, data_dir

SPLITS = ("train", "val")
VAL_PER_CLASS = 100  # 10 classes x 100 = the 1,000-image validation split


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format: a magic number, the dimensions, then uint8 data)."""
    with gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[:4], "big")
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte data
        raise ValueError(f"{path} is not an unsigned-byte IDX file (magic {magic:#x}); pass an MNIST file such as "
                         "t10k-images-idx3-ubyte.gz (load_mnist() finds the bundled ones and checks their sha256)")
    ndim = magic & 0xFF
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def stratified_split(labels: torch.Tensor, per_class: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, val) with exactly `per_class` validation items of each label, chosen by a fixed seed."""
    g = torch.Generator().manual_seed(seed)
    val = []
    for c in labels.unique().tolist():
        idx = (labels == c).nonzero().squeeze(1)
        if len(idx) <= per_class:
            raise ValueError(f"class {c} has {len(idx)} items, not enough for {per_class} validation items")
        val.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    val = torch.cat(val).sort().values
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[val] = False
    return mask.nonzero().squeeze(1), val


def load_mnist(split: str = "train", full: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as float [N, 1, 28, 28] in [0, 1] and labels as int64 [N].

    Offline default: the bundled 10k file, 9,000 train / 1,000 val (100 per digit), the same every run.
    full=True downloads the 60k training set with torchvision (needs the internet) and uses the 10k as val.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {SPLITS}")
    if full and split == "train":
        from torchvision.datasets import MNIST  # only imported on the online path
        ds = MNIST(root=str(data_dir() / "mnist-full"), train=True, download=True)
        return ds.data.float().div(255).unsqueeze(1), ds.targets.long()
    images = torch.from_numpy(read_idx(bundled_path("mnist-images")).copy())
    labels = torch.from_numpy(read_idx(bundled_path("mnist-labels")).astype(np.int64))
    if full:  # full=True, split='val': the whole 10k test set
        return images.float().div(255).unsqueeze(1), labels
    train_idx, val_idx = stratified_split(labels, VAL_PER_CLASS)
    idx = train_idx if split == "train" else val_idx
    return images[idx].float().div(255).unsqueeze(1), labels[idx]
