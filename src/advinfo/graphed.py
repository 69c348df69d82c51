"""A function of tensors replayed as one CUDA graph, so that a GPU step costs one launch.

A PGD-7 training step of ResNet-18 is about 1,500 small kernels; launched one by one from
Python the GPU waits on the CPU (measured: 840 ms of CPU time for 149 ms of kernels). Captured
once and replayed, the whole step is one launch. What capture needs of the function: inputs
and outputs at fixed addresses (the static buffers here), no host synchronisation (no
``.item()``, no data-dependent shapes), its randomness drawn outside (it arrives as an input),
and every value that changes between calls held in a tensor (a Python number is frozen into the
graph). ``torch.cuda.make_graphed_callables`` graphs a module's forward and backward but not
an optimiser step or an attack's inner gradients, hence this class.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

log = logging.getLogger(__name__)
Key = tuple[tuple[tuple[int, ...], torch.dtype] | None, ...]


def _key(args: tuple[torch.Tensor | None, ...]) -> Key:
    return tuple(None if a is None else (tuple(a.shape), a.dtype) for a in args)


class Graphed:
    """Calls ``fn(*tensors)``: on a CUDA device, the first ``warmup`` calls of each input shape
    run as they are (on a side stream, as capture requires; they are real calls), the next one
    captures ``fn`` into a CUDA graph and replays it, and every later call copies its inputs
    into the graph's buffers and replays. Elsewhere, or with ``enabled`` false, every call
    runs ``fn`` as it is.

    The outputs of a replay live in the graph's buffers: read them before the next call. Each
    call runs ``fn`` exactly once, whether eagerly or by replay, so a function with side
    effects (an optimiser step) keeps its meaning. If capture fails, a warning says why and
    ``fn`` runs eagerly from then on.
    """

    def __init__(self, fn: Callable[..., tuple[torch.Tensor, ...]], enabled: bool = True, warmup: int = 3) -> None:
        self.fn, self.enabled, self.warmup = fn, enabled, warmup
        self.calls: dict[Key, int] = {}
        self.graphs: dict[Key, tuple[torch.cuda.CUDAGraph, tuple, tuple]] = {}
        self.pool = None  # one memory pool shared by the graphs of every shape
        self.stream: torch.cuda.Stream | None = None  # of the warm-up calls: one, so their memory is reused

    def __call__(self, *args: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        if not (self.enabled and next(a for a in args if a is not None).is_cuda):
            return self.fn(*args)
        key = _key(args)
        if key in self.graphs:
            return self._replay(key, args)
        self.calls[key] = self.calls.get(key, 0) + 1
        if self.calls[key] <= self.warmup:
            return self._side_stream(args)
        try:
            self._capture(key, args)
        except RuntimeError as error:
            log.warning("CUDA graph capture failed (%s); running the step eagerly from now on", error)
            self.enabled = False
            torch.cuda.synchronize()
            return self.fn(*args)
        return self._replay(key, args)

    def _side_stream(self, args: tuple[torch.Tensor | None, ...]) -> tuple[torch.Tensor, ...]:
        self.stream = self.stream or torch.cuda.Stream()
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            out = self.fn(*args)
        torch.cuda.current_stream().wait_stream(self.stream)
        return out

    def _capture(self, key: Key, args: tuple[torch.Tensor | None, ...]) -> None:
        inputs = tuple(None if a is None else a.clone() for a in args)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            outputs = self.fn(*inputs)
        self.pool = graph.pool()
        self.graphs[key] = (graph, inputs, outputs)
        log.info("captured a CUDA graph for inputs %s", key)

    def _replay(self, key: Key, args: tuple[torch.Tensor | None, ...]) -> tuple[torch.Tensor, ...]:
        graph, inputs, outputs = self.graphs[key]
        for buffer, a in zip(inputs, args, strict=True):
            if buffer is not None:
                buffer.copy_(a)
        graph.replay()
        return outputs


# aten ops that make the host wait for the device: a scalar read (.item(), bool(), int(), float())
# or an output whose shape depends on values. Capture fails on any of them.
SYNC_OPS = frozenset({"_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique2"})


class OpCounter(TorchDispatchMode):
    """Counts the aten ops run inside it (on a GPU each launches one kernel or more) and,
    among them, those that synchronise the host with the device (:data:`SYNC_OPS`): what a
    CPU can show of a step's launch cost and of whether it can be captured."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = 0
        self.syncs: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 - torch's protocol
        self.ops += 1
        name = func.overloadpacket.__name__
        if name in SYNC_OPS:
            self.syncs.append(name)
        return func(*args, **(kwargs or {}))
