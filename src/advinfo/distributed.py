"""Data-parallel jobs inside one Snakemake job: one process per GPU (or per CPU share), started
with ``torch.multiprocessing`` (what torchrun does for a single node) and joined by
``torch.distributed`` (NCCL on GPUs, gloo on CPUs). See ``train.py`` for how a step is split."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    """A TCP port nobody listens on now, for the processes to meet at."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker(rank: int, size: int, port: int, devices: list[str], job: Callable[..., Any], args: tuple) -> None:
    device = torch.device(devices[rank])
    backend = "nccl" if device.type == "cuda" else "gloo"
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, rank=rank, world_size=size)
    try:
        job(device, *args)
    finally:
        dist.destroy_process_group()


def launch(job: Callable[..., Any], devices: list[str], *args: Any) -> None:
    """Run ``job(device, *args)`` in one process per entry of ``devices`` (such as
    ``["cuda:0", "cuda:1"]`` or ``["cpu", "cpu"]``), joined in one process group; ``job`` must be
    importable (a module-level function). An exception in any process is raised here."""
    mp.spawn(_worker, args=(len(devices), free_port(), list(devices), job, args), nprocs=len(devices), join=True)


def world() -> tuple[int, int]:
    """(rank, number of processes) of data-parallel training; (0, 1) without it."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(batch: torch.Tensor) -> torch.Tensor:
    """This process's contiguous share of a batch (all of it without data parallelism); the
    remainder of a batch that does not split evenly (the epoch's last) is left out."""
    rank, size = world()
    per = len(batch) // size
    return batch if size == 1 else batch[rank * per : (rank + 1) * per]
