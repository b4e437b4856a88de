"""Where the code runs and how big it runs: one device choice, one scale knob, one seed."""
from __future__ import annotations

import os
import random
from typing import TypeVar

import numpy as np
import torch

SCALES = ("cpu-small", "gpu-full")
DEVICE_KINDS = ("cpu", "cuda", "mps")
T = TypeVar("T")


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def get_device(name: str | None = None) -> torch.device:
    """The device to run on: `name` if given ('cpu', 'cuda', 'cuda:1', 'mps'), else CUDA, then MPS, then CPU.

    The environment variable GENLIB_DEVICE overrides the automatic choice.
    """
    name = name if name is not None else os.environ.get("GENLIB_DEVICE")
    if name is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    kind = str(name).split(":")[0].strip().lower()
    if kind not in DEVICE_KINDS:
        raise ValueError(f"unknown device {name!r}: use one of {', '.join(DEVICE_KINDS)} (or 'cuda:N'), or None to pick automatically")
    if kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} was asked for but this machine has no CUDA GPU; use get_device() to pick automatically")
    if kind == "mps" and not _mps_available():
        raise RuntimeError(f"device {name!r} was asked for but MPS is not available here; use get_device() to pick automatically")
    return torch.device(str(name).strip().lower())


def scale() -> str:
    """'gpu-full' on a CUDA machine, else 'cpu-small'; GENLIB_SCALE overrides (so a GPU can run the quick version)."""
    forced = os.environ.get("GENLIB_SCALE")
    if forced is not None:
        if forced not in SCALES:
            raise ValueError(f"GENLIB_SCALE={forced!r} is not a scale: set it to one of {SCALES} or unset it")
        return forced
    return "gpu-full" if torch.cuda.is_available() else "cpu-small"


def pick(cpu_small: T, gpu_full: T) -> T:
    """Choose a setting by scale, e.g. `steps = pick(300, 5000)`: small on a laptop, full on a GPU."""
    return gpu_full if scale() == "gpu-full" else cpu_small


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices) so a notebook gives the same numbers each run."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def describe() -> str:
    """One line on what this machine offers: torch version, device, scale, threads."""
    dev = get_device()
    extra = f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""
    return f"torch {torch.__version__} | device {dev}{extra} | scale {scale()} | {torch.get_num_threads()} CPU threads"
