"""Where the code runs and how big it runs: one device choice, one scale knob, one seed."""
from __future__ import annotations

import os
import random
import time
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


def oversubscription_warning(threads: int, cores: int, load: float | None) -> str | None:
    """A one-line warning if torch runs more threads than there are free cores (cores minus the load), else None.

    Threads that wait for a core make each step slower, not faster. `load` is how many cores other work keeps
    busy (see `_free_core_inputs`); None where the system does not say (Windows): then all cores count as free.
    """
    if threads < 1 or cores < 1:
        raise ValueError(f"threads and cores must be >= 1, got {threads} and {cores}")
    free = max(1, round(cores - (load or 0.0)))
    if threads <= free:
        return None
    busy = f" (other work keeps about {load:.1f} busy)" if load is not None else ""
    return (f"warning: torch uses {threads} CPU threads but only {free} of {cores} cores are free{busy}, so threads "
            f"wait for each other; set OMP_NUM_THREADS={free} before starting Python, or call "
            f"torch.set_num_threads({free})")


def _busy_cores_now(window: float = 0.25) -> float | None:
    """Cores busy over the next `window` seconds, from /proc/stat (Linux); None elsewhere.

    Measured now rather than read from the 1-minute load average, which still counts a run that just ended
    (the previous notebook, say) for a minute after it stopped.
    """
    def ticks() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return sum(values) - idle, sum(values)
    try:
        busy0, total0 = ticks()
        time.sleep(window)
        busy1, total1 = ticks()
    except (OSError, ValueError, IndexError):
        return None
    cores = os.cpu_count() or 1
    return cores * (busy1 - busy0) / max(1, total1 - total0)


def _free_core_inputs() -> tuple[int, float | None]:
    """This process's usable cores, and how many cores other work keeps busy (None where unknown)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    load = _busy_cores_now()
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = None
    return cores, load


def describe() -> str:
    """One line on what this machine offers: torch version, device, scale, threads; plus a warning line if the
    CPU threads outnumber the free cores."""
    dev = get_device()
    extra = f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""
    line = f"torch {torch.__version__} | device {dev}{extra} | scale {scale()} | {torch.get_num_threads()} CPU threads"
    warning = oversubscription_warning(torch.get_num_threads(), *_free_core_inputs())
    return line if warning is None else f"{line}\n{warning}"
