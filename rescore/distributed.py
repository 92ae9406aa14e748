"""Processes and devices: the rank and world size under torchrun, and the one rule by which
every command picks its device.

Importing this module starts nothing: the process group is created on the first call of
:func:`dist_info` in a process that torchrun launched (``WORLD_SIZE`` > 1).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from rescore.errors import RescoreError, unknown_choice

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def dist_info() -> DistInfo:
    """Rank and world size when launched by torchrun (WORLD_SIZE set), else a single process.
    Creates the process group (nccl with CUDA, gloo without) on first use."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size())
    return DistInfo()


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else the CPU; ``cuda``: the GPU of this process
    (``cuda:LOCAL_RANK`` under torchrun, else ``cuda:0``); ``cpu``. ``cuda:N`` names one."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RescoreError("--device cuda: no CUDA device is available (torch "
                               f"{torch.__version__}); use --device cpu")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if name == "cpu" or name.startswith("cuda:"):
        return torch.device(name)
    raise unknown_choice("device", name, (*DEVICES, "cuda:N"))


def all_reduce_counts(values: list[int]) -> list[int]:
    """Sum integer counters over every process of the group (the values unchanged alone)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return list(values)
    on = torch.device("cuda", torch.cuda.current_device()) \
        if dist.get_backend() == "nccl" else torch.device("cpu")
    counts = torch.tensor(values, dtype=torch.int64, device=on)
    dist.all_reduce(counts)
    return [int(v) for v in counts.tolist()]


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
