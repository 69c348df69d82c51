"""GPU placement: concurrent jobs on a host with several GPUs each claim a different one
(tested with a fake device count), wait while all are taken, and free theirs on exit."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest
import torch

from advinfo import device as device_module
from advinfo.device import claim_gpu, job_device, visible_gpus


def _hold(lock_dir: str, gpus: list[str], hold: float, queue: mp.Queue) -> None:
    index, _handle = claim_gpu(gpus, device_module.Path(lock_dir), poll_seconds=0.05)
    queue.put((index, time.monotonic()))
    time.sleep(hold)


def test_concurrent_jobs_get_different_gpus_and_a_third_waits(tmp_path):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    gpus = ["0", "1"]
    holders = [ctx.Process(target=_hold, args=(str(tmp_path), gpus, 2.0, queue)) for _ in range(2)]
    for p in holders:
        p.start()
    first = sorted(queue.get(timeout=60)[0] for _ in holders)
    assert first == [0, 1], "two concurrent jobs must land on different GPUs"
    started = time.monotonic()
    third = ctx.Process(target=_hold, args=(str(tmp_path), gpus, 0.0, queue))
    third.start()
    index, when = queue.get(timeout=60)
    assert index in (0, 1) and when - started > 0.5, "a third job waits until a GPU is free"
    for p in [*holders, third]:
        p.join(timeout=60)
        assert p.exitcode == 0


def test_a_crashed_job_frees_its_gpu(tmp_path):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=_hold, args=(str(tmp_path), ["0"], 30.0, queue))
    p.start()
    queue.get(timeout=60)
    p.kill()
    p.join(timeout=60)
    index, handle = claim_gpu(["0"], tmp_path, poll_seconds=0.05)
    assert index == 0
    handle.close()


def test_lock_files_are_named_by_physical_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert visible_gpus(2) == ["2", "5"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpus(3) == ["0", "1", "2"]


@pytest.fixture
def fake_gpus(monkeypatch, tmp_path):
    """torch sees 2 GPUs; set_device records the choice instead of touching CUDA."""
    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: chosen[-1] if chosen else 0)
    monkeypatch.setattr(device_module, "_held", [])
    monkeypatch.setenv(device_module.LOCK_DIR_ENV, str(tmp_path))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    return chosen


def test_job_device_takes_the_gpu_another_job_left_free(fake_gpus, tmp_path):
    index, handle = claim_gpu(["0"], tmp_path)  # another job holds GPU 0
    assert job_device(1) == torch.device("cuda:1") and fake_gpus == [1]
    assert job_device(1) == torch.device("cuda:1") and fake_gpus == [1], "a process claims once"
    handle.close()


def test_under_slurm_the_job_uses_the_gpu_it_was_given(fake_gpus, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    assert job_device(1) == torch.device("cuda:0") and fake_gpus == []


def test_shared_gpus_fill_every_first_slot_before_a_second(tmp_path):
    held = [claim_gpu(["0", "1"], tmp_path, slots=2, poll_seconds=0.05) for _ in range(4)]
    assert [index for index, _ in held] == [0, 1, 0, 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "gpu0.lock",
        "gpu0.slot1.lock",
        "gpu1.lock",
        "gpu1.slot1.lock",
    ]
    held[1][1].close()  # the job in GPU 1's first slot ends
    index, handle = claim_gpu(["0", "1"], tmp_path, slots=2, poll_seconds=0.05)
    assert index == 1
    for _, h in [*held, (index, handle)]:
        h.close()


def test_a_data_parallel_job_gets_distinct_gpus_when_they_are_shared(fake_gpus, monkeypatch, tmp_path):
    monkeypatch.setenv(device_module.SLOTS_ENV, "2")
    _, other = claim_gpu(["1"], tmp_path)  # another job holds GPU 1's first slot; GPU 0's second is free
    assert device_module.job_devices(2, count=2) == [torch.device("cuda:0"), torch.device("cuda:1")]
    other.close()


def test_a_bad_slot_count_names_the_key(monkeypatch):
    monkeypatch.setenv(device_module.SLOTS_ENV, "0")
    with pytest.raises(ValueError, match="gpu_slots.*integer >= 1"):
        device_module.gpu_slots()
