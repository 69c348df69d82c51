"""Published robust networks of the RobustBench model zoo, run by every stage of the workflow.

``robustbench`` (the optional ``zoo`` extra) defines each network's architecture; this module
builds it, reads its weights from the zoo's own file (``<model_dir>/<dataset>/<threat>/<name>.pt``,
pinned by SHA-256, read with ``weights_only=True``: a job never downloads or unpickles code) and
wraps it as a :class:`ZooClassifier`: the representation z is the input of the network's final
linear layer, its head is that layer. Any architecture works, since nothing but the head is
named; the fake ReLU of inversion applies where the layers between z and the last ReLU are
pooling and reshaping only (found by tracing the network with ``torch.fx``).
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from advinfo.nets.imported import CheckpointError, file_sha256, read_tensors, verify_sha256
from advinfo.nets.models import FakeReLU
from advinfo.plan.zoo import ZOO_IMAGE_SIZE

log = logging.getLogger(__name__)

# Operations that carry the last ReLU's output to z without mixing units nonlinearly.
_POOLING_MODULES = (nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.Flatten, nn.Identity, nn.Dropout)
_POOLING_FUNCTIONS = (F.avg_pool2d, F.adaptive_avg_pool2d, torch.flatten, F.dropout)
_POOLING_METHODS = ("view", "reshape", "flatten", "mean", "squeeze", "contiguous")
_RELU_FUNCTIONS = (F.relu, torch.relu)


def robustbench_models() -> Mapping[Any, Any]:
    """robustbench's ``model_dicts`` ({BenchmarkDataset: {ThreatModel: {name: entry}}}).

    robustbench 1.1.1's ``__init__`` imports ``pkg_resources`` (for its data loaders), which
    setuptools 82 removed (RobustBench/robustbench#214); the model zoo needs neither, so when that
    import fails the package's modules are imported without its ``__init__``."""
    try:
        import robustbench  # noqa: F401
    except ModuleNotFoundError as err:
        if err.name == "robustbench":
            raise ModuleNotFoundError(
                "imported[].format robustbench needs the robustbench package: pip install -e '.[zoo]'"
            ) from err
        if err.name != "pkg_resources":
            raise
        # The package, its __init__ not run: its submodules import as usual.
        sys.modules["robustbench"] = importlib.util.module_from_spec(importlib.util.find_spec("robustbench"))
    from robustbench.model_zoo import model_dicts

    return model_dicts


def zoo_entry(name: str, dataset: str, threat: str) -> dict[str, Any]:
    """robustbench's entry for one model (the config check has named any it does not know)."""
    models = {
        (d.value, t.value): named for d, by_threat in robustbench_models().items() for t, named in by_threat.items()
    }
    entry = models.get((dataset, threat), {}).get(name)
    if entry is None:
        raise KeyError(f"robustbench knows no {dataset}/{threat} model {name!r} (imported[].name)")
    return entry


def build_network(name: str, dataset: str, threat: str) -> nn.Module:
    """The untrained network of one zoo model, built by robustbench."""
    entry = zoo_entry(name, dataset, threat)
    if isinstance(entry.get("gdrive_id"), list):
        raise ValueError(f"robustbench model {name!r} is an ensemble of several files; import one network")
    if entry.get("gdrive_id") is None:
        raise ValueError(f"robustbench model {name!r} is served by timm, not as a zoo file; it cannot be imported")
    return entry["model"]()


def final_linear(network: nn.Module) -> str:
    """The qualified name of the network's last ``nn.Linear``: its head (z is its input)."""
    names = [name for name, module in network.named_modules() if isinstance(module, nn.Linear)]
    if not names:
        raise ValueError(f"{type(network).__name__} has no nn.Linear layer to take as its head")
    return names[-1]


class SwitchReLU(nn.Module):
    """The network's last ReLU: a ReLU, or the fake one (identity backward) while ``fake`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.fake = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return FakeReLU.apply(x) if self.fake else torch.relu(x)


def _is_relu(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return isinstance(modules[node.target], nn.ReLU)
    return (node.op == "call_function" and node.target in _RELU_FUNCTIONS) or (
        node.op == "call_method" and node.target == "relu"
    )


def _passes_through(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return isinstance(modules[node.target], _POOLING_MODULES)
    return (node.op == "call_function" and node.target in _POOLING_FUNCTIONS) or (
        node.op == "call_method" and node.target in _POOLING_METHODS
    )


def with_fake_relu(body: nn.Module) -> tuple[nn.Module, bool]:
    """``body`` (a network whose output is z) traced, with its last ReLU a :class:`SwitchReLU`
    when only pooling and reshaping lie between that ReLU and z; else ``body`` itself and False
    (tracing fails, or z is not a pooled ReLU, as with Swish networks)."""
    try:
        traced = fx.symbolic_trace(body)
    except Exception as err:  # noqa: BLE001 - any tracing failure means: no fake ReLU
        log.info("no fake ReLU: %s does not trace with torch.fx (%s)", type(body).__name__, err)
        return body, False
    modules = dict(traced.named_modules())
    (output,) = [n for n in traced.graph.nodes if n.op == "output"]
    node = output.args[0]
    while isinstance(node, fx.Node) and _passes_through(node, modules):
        node = node.args[0]
    if not isinstance(node, fx.Node) or not _is_relu(node, modules):
        return body, False
    traced.add_submodule("last_relu", SwitchReLU())
    with traced.graph.inserting_after(node):
        switch = traced.graph.call_module("last_relu", (node.args[0],))
    node.replace_all_uses_with(switch)
    traced.graph.erase_node(node)
    traced.recompile()
    return traced, True


class ZooClassifier(nn.Module):
    """A zoo network as the workflow's classifier: ``features(x)`` is z (the input of its final
    linear layer) and ``head`` that layer. It has no residual stages this workflow can unfreeze
    (``stages`` is empty), so partial fine-tuning trains its head only."""

    stages: tuple[nn.Module, ...] = ()

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        head_name = final_linear(network)
        head = network.get_submodule(head_name)
        network.set_submodule(head_name, nn.Identity())
        self.body, self.has_fake_relu = with_fake_relu(network)
        self.head = head
        self.feature_dim = head.in_features

    def features(self, x: torch.Tensor, fake_relu: bool = False) -> torch.Tensor:
        """z = f_w(x); with ``fake_relu`` the last ReLU passes gradients as the identity."""
        if not fake_relu:
            return self.body(x)
        if not self.has_fake_relu:
            raise ValueError("this network has no last ReLU before z to make fake (see has_fake_relu)")
        switch = self.body.get_submodule("last_relu")
        switch.fake = True
        try:
            return self.body(x)
        finally:
            switch.fake = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def zoo_state(obj: Any, path: str | Path) -> dict[str, torch.Tensor]:
    """The network state in a zoo file, with robustbench's prefixes ('module.', 'model.') removed."""
    state = obj.get("state_dict", obj.get("last", obj)) if isinstance(obj, dict) else None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {path} is not a RobustBench file (a mapping of names to tensors)")
    for prefix in ("module.", "model."):
        state = {k.removeprefix(prefix): v for k, v in state.items()}
    return state


def load_network_state(network: nn.Module, state: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Load ``state`` as robustbench does: every parameter must be there; a missing buffer (the
    normalisation some files leave out) keeps the value the architecture sets."""
    own = network.state_dict()
    if not any(k in own for k in state) and any(f"model.{k}" in own for k in state):
        state = {f"model.{k}": v for k, v in state.items()}  # wrappers that hold the network as .model
    buffers = {name for name, _ in network.named_buffers()}
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    absent = [k for k in missing if k not in buffers]
    if absent or extra:
        raise CheckpointError(
            f"checkpoint {path} does not fit {type(network).__name__}: missing {absent[:5]}, "
            f"unexpected {extra[:5]} ({len(absent)} and {len(extra)} in all)"
        )
    if missing:
        log.info("%s keeps the architecture's %s (not in the file)", path, ", ".join(missing))
    try:
        network.load_state_dict(state, strict=False)
    except RuntimeError as err:  # a tensor of the wrong shape
        raise CheckpointError(f"checkpoint {path} does not fit {type(network).__name__}: {err}") from err


def zoo_classifier(name: str, dataset: str, threat: str) -> ZooClassifier:
    """An untrained :class:`ZooClassifier` of one zoo model (what a saved one's state fits)."""
    return ZooClassifier(build_network(name, dataset, threat))


def import_zoo(path: str | Path, sha256: str, name: str, dataset: str, threat: str) -> tuple[ZooClassifier, dict]:
    """The zoo model in ``path`` (checked against ``sha256``) as a :class:`ZooClassifier` in eval
    mode, and what its metadata needs: num_classes, the fake-ReLU flag and the zoo's names."""
    network = build_network(name, dataset, threat)
    verify_sha256(path, sha256)
    load_network_state(network, zoo_state(read_tensors(path), path), path)
    model = ZooClassifier(network).eval()
    info = {
        "num_classes": int(model.head.out_features),
        "zoo": {"name": name, "dataset": dataset, "threat": threat, "fake_relu": model.has_fake_relu},
    }
    return model, info


def fetch(model_dir: str | Path, dataset: str, threat: str, names: list[str]) -> dict[str, tuple[Path, str]]:
    """Download zoo files once with robustbench's own loader (``<model_dir>/<dataset>/<threat>/<name>.pt``;
    present files are not fetched again); {name: (path, SHA-256)} to pin in the config."""
    robustbench_models()
    from robustbench.utils import load_model

    out = {}
    for name in names:
        load_model(name, model_dir, dataset, threat)
        path = Path(model_dir) / dataset / threat / f"{name}.pt"
        out[name] = (path, file_sha256(path))
    return out


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=fetch.__doc__)
    parser.add_argument("model_dir")
    parser.add_argument("dataset", choices=sorted(ZOO_IMAGE_SIZE))
    parser.add_argument("threat", choices=["Linf", "L2", "corruptions"])
    parser.add_argument("names", nargs="+")
    args = parser.parse_args(argv)
    for name, (path, sha) in fetch(args.model_dir, args.dataset, args.threat, args.names).items():
        print(f'{name}: path: {path}  sha256: "{sha}"')


if __name__ == "__main__":
    main()
