"""Data-parallel training over several processes (torchrun): each trains on its own batches, gradients are averaged.

    torchrun --nproc_per_node=2 scripts/train_gpt.py ...      # 2 GPUs (NCCL), or 2 CPU processes (gloo)

Every process (a *rank*) holds the whole model. DistributedDataParallel averages the gradients over the ranks
during backward, so every rank's optimizer (AdamW, Muon, anything) takes the same step from the same weights:
N ranks with batch B each train exactly like one process with batch N * B. What stays per rank is the data:
each rank draws its own batches (`rank_seed`). Everything else is rank 0's job: printing, saving, registering.
Without torchrun (no WORLD_SIZE in the environment) every function here is a no-op for one process, rank 0.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from genlib.device import get_device


@dataclass(frozen=True)
class Context:
    """Where this process stands: its rank among world_size processes and the device it trains on."""
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: torch.device | str | None = None) -> Context:
    """Join torchrun's process group (NCCL on GPUs, gloo on CPUs) if started by torchrun, else one process.

    torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; with GPUs, local rank r trains on cuda:r.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Context(0, 1, get_device(device))
    if "RANK" not in os.environ or "MASTER_ADDR" not in os.environ:
        raise RuntimeError(f"WORLD_SIZE={world} is set but RANK or MASTER_ADDR is not: start data-parallel runs "
                           "with `torchrun --nproc_per_node=N script.py`, or unset WORLD_SIZE for one process")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    dev = get_device(device)
    if dev.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"local rank {local_rank} has no GPU: this machine has {torch.cuda.device_count()}; "
                               "start at most that many processes (--nproc_per_node)")
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Context(rank, world, dev)


def is_distributed() -> bool:
    """True inside a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Whether this process prints, saves and registers (rank 0, or the only process)."""
    return rank() == 0


def rank_seed(seed: int, rank_: int | None = None) -> int:
    """A seed of this rank's own (or of rank `rank_`), for its data generator: rank 0 keeps `seed`, so a single
    process draws what it always drew."""
    return seed + 1_000_003 * (rank() if rank_ is None else rank_)


def wrap(model: nn.Module) -> nn.Module:
    """The model in DistributedDataParallel when distributed (rank 0's weights are copied to every rank), else itself."""
    if not is_distributed():
        return model
    device = next(model.parameters()).device
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP wrapper: what to save, evaluate, average (EMA) and name parameters from."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def agree(values: list[float]) -> torch.Tensor:
    """Every rank's `values`, one row per rank [world_size, len(values)] (one tiny all-gather), so all ranks can
    take the same decision, e.g. stop when any rank's clock has run out."""
    row = torch.tensor(values, dtype=torch.float64)
    if not is_distributed():
        return row[None]
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else row.device
    rows = [torch.empty_like(row, device=device) for _ in range(world_size())]
    dist.all_gather(rows, row.to(device))
    return torch.stack(rows).cpu()


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's `obj` (picklable) in rank order, on every rank; [obj] for one process."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def cleanup() -> None:
    """Leave the process group (call at the end of a torchrun script)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
