"""Where a job runs: the CPU, or a GPU of its own.

GPU placement: Snakemake's ``--resources gpu=N`` bounds how many GPU jobs run at once but
assigns no device, so on a multi-GPU host every job would land on GPU 0. A GPU job therefore
claims a free GPU itself, by an exclusive ``flock`` on a per-GPU lock file in a per-host
directory, and holds it until the process exits (the kernel releases it, also after a crash).
Lock files are named by physical GPU (the entries of ``CUDA_VISIBLE_DEVICES`` when it is set).
Under SLURM (``SLURM_JOB_ID`` set) the scheduler has placed the job already, so it uses the
GPU it was given and takes no lock.

Sharing: with ``gpu_slots`` (the workflow passes it as ``$ADVINFO_GPU_SLOTS``) above 1, each GPU
has that many lock files, and small jobs run side by side on one GPU; every GPU's first slot
is taken before any GPU's second, so jobs spread over the GPUs first.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import IO

import torch

log = logging.getLogger(__name__)
LOCK_DIR_ENV = "ADVINFO_GPU_LOCK_DIR"
SLOTS_ENV = "ADVINFO_GPU_SLOTS"
_held: list[tuple[int, IO[str]]] = []  # (index, lock file) of each claimed GPU, open for the process's life


def pick_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def gpu_lock_dir() -> Path:
    """Where GPU jobs of this host meet: ``$ADVINFO_GPU_LOCK_DIR`` or a per-user temp folder."""
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / f"advinfo-gpu-locks-{os.getuid()}")


def visible_gpus(count: int) -> list[str]:
    """Physical ids of the ``count`` GPUs this process sees, in torch's index order."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [v.strip() for v in visible.split(",") if v.strip()] if visible is not None else []
    return ids[:count] if len(ids) >= count else [str(i) for i in range(count)]


def gpu_slots() -> int:
    """How many jobs may share one GPU: ``$ADVINFO_GPU_SLOTS`` (the config's ``gpu_slots``), else 1."""
    value = os.environ.get(SLOTS_ENV, "1")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{SLOTS_ENV} (the config's gpu_slots) must be an integer >= 1, got {value!r}")
    return int(value)


def lock_name(gpu: str, slot: int) -> str:
    """The lock file of one slot of a GPU (slot 0 keeps the name of an unshared GPU's lock)."""
    return f"gpu{gpu}.lock" if slot == 0 else f"gpu{gpu}.slot{slot}.lock"


def claim_gpu(
    gpus: list[str], lock_dir: Path, slots: int = 1, exclude: frozenset[int] = frozenset(), poll_seconds: float = 2.0
) -> tuple[int, IO[str]]:
    """(index into ``gpus``, open lock file) of the first free slot, every GPU's first slot
    before any second one, skipping the GPU indices in ``exclude``; waiting while all are
    taken. The slot stays claimed until the file is closed or the process ends."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for slot in range(slots):
            for index, gpu in enumerate(gpus):
                if index in exclude:
                    continue
                handle = open(lock_dir / lock_name(gpu, slot), "w")
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.close()
                    continue
                return index, handle
        if not waited:
            log.info(
                "all %d slots of %d GPUs are taken by other jobs; waiting (locks in %s)", slots, len(gpus), lock_dir
            )
            waited = True
        time.sleep(poll_seconds)


def job_devices(threads: int, count: int = 1) -> list[torch.device]:
    """The devices of a job, with torch limited to its ``threads`` CPU threads (shared by its
    ``count`` processes): ``count`` GPUs of its own when there are GPUs (see the module
    docstring; a process claims them once), else ``count`` times the CPU."""
    torch.set_num_threads(max(1, threads // count))
    if not torch.cuda.is_available():
        return [torch.device("cpu")] * count
    if torch.cuda.device_count() < count:
        raise RuntimeError(f"pretrain.gpus is {count}, but this job sees {torch.cuda.device_count()} GPUs")
    if os.environ.get("SLURM_JOB_ID"):
        return [torch.device(f"cuda:{i}") for i in range(count)]
    if len(_held) < count:
        ids = visible_gpus(torch.cuda.device_count())
        slots = gpu_slots()
        while len(_held) < count:  # a data-parallel job's processes need GPUs of their own
            _held.append(claim_gpu(ids, gpu_lock_dir(), slots, frozenset(i for i, _ in _held)))
        torch.cuda.set_device(_held[0][0])
        log.info("running on GPU %s of %d", ", ".join(str(i) for i, _ in _held), torch.cuda.device_count())
    return [torch.device(f"cuda:{index}") for index, _ in _held[:count]]


def job_device(threads: int) -> torch.device:
    """The device of a single-process job (see :func:`job_devices`)."""
    return job_devices(threads)[0]
