"""Every speed target of the project, measured in one run and printed as ratios.

Usage: python benchmarks/run.py [--only NAME ...] [--threads N] [--repeats R]

Timings on these machines are noisy, so each entry measures the things it compares
side by side in the same process and reports their ratio against the target.
Entries:
  pretrain_throughput  images/s of standard and PGD-k training epochs (resnet_mini, 32x32)
  at_overhead          AT epoch / (standard epoch + k x one attack step alone); target <= 1.10
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from advinfo.models import build_model
from advinfo.train import TrainConfig, Trainer

RESULTS: list[tuple[str, str, str]] = []


def report(name: str, value: str, target: str = "") -> None:
    RESULTS.append((name, value, target))
    print(f"{name:<44} {value:<28} {target}", flush=True)


def best_times(fns: list[Callable[[], None]], repeats: int) -> list[float]:
    """Minimum wall time of each function over ``repeats`` rounds, after one warm-up.

    The functions are interleaved round by round, so a slow spell of the machine hits all of
    them alike and their ratios stay meaningful; the minimum is the least noisy statistic.
    """
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def _data(n: int, size: int, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, size, size), generator=gen, dtype=torch.uint8)
    return x, torch.randint(0, classes, (n,), generator=gen)


def _epoch_timer(cfg: TrainConfig, data: tuple[torch.Tensor, torch.Tensor]) -> Callable[[], None]:
    model = build_model("resnet_mini", 10, width=16)
    trainer = Trainer(model, cfg, math.ceil(len(data[0]) / cfg.batch_size))
    return lambda: trainer.train_epoch(*data, epoch=0, progress=False)


def _attack_step_timer(cfg: TrainConfig, data: tuple[torch.Tensor, torch.Tensor]) -> Callable[[], None]:
    """One PGD step's core alone over the epoch's batches: eval-mode forward and input gradient."""
    model = build_model("resnet_mini", 10, width=16).eval()
    x_all, y_all = data

    def run() -> None:
        for i in range(0, len(x_all), cfg.batch_size):
            x = x_all[i : i + cfg.batch_size].float().div_(255).requires_grad_(True)
            loss = F.cross_entropy(model(x), y_all[i : i + cfg.batch_size], reduction="none")
            torch.autograd.grad(loss.sum(), x)

    return run


def bench_pretraining(args: argparse.Namespace) -> None:
    """Standard and PGD-k epochs, and one attack step alone, timed on the same data."""
    data = _data(args.n, args.size)
    k = args.steps
    std_cfg = TrainConfig(batch_size=args.batch_size, epochs=1)
    at_cfg = TrainConfig(method="pgd", eps=0.5, attack_steps=k, batch_size=args.batch_size, epochs=1)
    t_std, t_at, t_step = best_times(
        [_epoch_timer(std_cfg, data), _epoch_timer(at_cfg, data), _attack_step_timer(at_cfg, data)], args.repeats
    )
    n = len(data[0])
    report("pretrain_throughput.standard", f"{n / t_std:.0f} img/s")
    report(f"pretrain_throughput.pgd{k}", f"{n / t_at:.0f} img/s")
    report("pretrain_throughput.attack_step_alone", f"{n / t_step:.0f} img/s")
    ratio = t_at / (t_std + k * t_step)
    report(f"at_overhead (PGD-{k})", f"{ratio:.3f}", "target <= 1.10")


BENCHMARKS: dict[str, Callable[[argparse.Namespace], None]] = {
    "pretraining": bench_pretraining,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="entries to run (default: all)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n", type=int, default=2048, help="images per timed epoch")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=7, help="PGD steps k")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} threads, device cpu")
    print(f"{'entry':<44} {'value':<28} target")
    for name in args.only or BENCHMARKS:
        BENCHMARKS[name](args)


if __name__ == "__main__":
    main()
