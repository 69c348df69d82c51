"""Where a job runs: the CPU, or a GPU of its own.

GPU placement: Snakemake's ``--resources gpu=N`` bounds how many GPU jobs run at once but
assigns no device, so on a multi-GPU host every job would land on GPU 0. A GPU job therefore
claims a free GPU itself, by an exclusive ``flock`` on a per-GPU lock file in a per-host
directory, and holds it until the process exits (the kernel releases it, also after a crash).
Lock files are named by physical GPU (the entries of ``CUDA_VISIBLE_DEVICES`` when it is set).
Under SLURM (``SLURM_JOB_ID`` set) the scheduler has placed the job already, so it uses the
GPU it was given and takes no lock.
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


def claim_gpu(gpus: list[str], lock_dir: Path, poll_seconds: float = 2.0) -> tuple[int, IO[str]]:
    """(index into ``gpus``, open lock file) of the first GPU no other process holds, waiting
    while all are taken. The GPU stays claimed until the file is closed or the process ends."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for index, gpu in enumerate(gpus):
            handle = open(lock_dir / f"gpu{gpu}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            return index, handle
        if not waited:
            log.info("all %d GPUs are taken by other jobs; waiting for one (locks in %s)", len(gpus), lock_dir)
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
        while len(_held) < count:  # a flock conflicts with this process's own earlier locks too
            _held.append(claim_gpu(ids, gpu_lock_dir()))
        torch.cuda.set_device(_held[0][0])
        log.info("running on GPU %s of %d", ", ".join(str(i) for i, _ in _held), torch.cuda.device_count())
    return [torch.device(f"cuda:{index}") for index, _ in _held[:count]]


def job_device(threads: int) -> torch.device:
    """The device of a single-process job (see :func:`job_devices`)."""
    return job_devices(threads)[0]
