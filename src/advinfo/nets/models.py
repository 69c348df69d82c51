"""Residual classifiers that expose their representation z and their linear head.

Every model takes images in [0, 1] pixel space and normalises them with a layer of its
own, so attacks, Fisher estimates and inversions all work on pixels (as the robustness
library does). ``model.features(x)`` is z (the penultimate layer), ``model.head`` the
linear classifier on z, ``model.stages`` the residual stages (later stages are the ones
partial fine-tuning unfreezes).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

ARCHS = ("resnet_mini", "resnet18", "resnet50", "resnet18_imagenet", "resnet50_imagenet")
STANDARD_WIDTH = 64  # torchvision's ResNets
DEFAULT_WIDTH = {"resnet_mini": 16, "resnet18": STANDARD_WIDTH}  # the architectures whose width is a choice


class Normalize(nn.Module):
    """Per-channel standardisation, stored as buffers so it travels in the state dict."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Classifier(nn.Module):
    """normalize -> stem -> stages -> global average pool = z -> head."""

    has_fake_relu = True  # features(x, fake_relu=True) works (see nets.zoo.ZooClassifier)

    def __init__(
        self,
        normalize: Normalize,
        stem: nn.Module,
        stages: Sequence[nn.Module],
        feature_dim: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.normalize = normalize
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(feature_dim, num_classes)
        self.feature_dim = feature_dim

    def features(self, x: torch.Tensor, fake_relu: bool = False) -> torch.Tensor:
        """The representation z = f_w(x), shape (N, feature_dim). With ``fake_relu`` the last
        ReLU passes gradients as if it were the identity (the robustness library's option for
        inversion: units that are off still steer the image); its values are unchanged."""
        h = self.stem(self.normalize(x))
        *stages, last = self.stages
        for stage in stages:
            h = stage(h)
        if not fake_relu:
            return self.pool(last(h))
        *blocks, final = last
        for block in blocks:
            h = block(h)
        return self.pool(FakeReLU.apply(_pre_activation(final, h)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def logits_and_hidden(self, x: torch.Tensor, stage: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, pooled output of ``stages[stage]``) from one pass: AR-AT regularises a
        chosen layer's features while it classifies."""
        chosen = stage % len(self.stages)
        h, hidden = self.stem(self.normalize(x)), None
        for i, block in enumerate(self.stages):
            h = block(h)
            if i == chosen:
                hidden = self.pool(h)
        return self.head(self.pool(h)), hidden

    def stage_channels(self, stage: int) -> int:
        """Channels of ``stages[stage]``'s output (its last normalisation layer's width)."""
        widths = [m.num_features for m in self.stages[stage].modules() if hasattr(m, "num_features")]
        return widths[-1]


class FakeReLU(torch.autograd.Function):
    """max(x, 0) forward, the identity backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock (the same layers, names, initialisation and forward),
    written out because importing torchvision costs every job over a second (torch._dynamo,
    through torchvision.ops); the torchvision ResNets import it only when built."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def _pre_activation(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The output of a BasicBlock or torchvision Bottleneck before its final ReLU (their
    forward, written out because the ReLU is applied inside it)."""
    out = block.relu(block.bn1(block.conv1(x)))
    out = block.bn2(block.conv2(out))
    if hasattr(block, "conv3"):  # a Bottleneck
        out = block.bn3(block.conv3(block.relu(out)))
    return out + (x if block.downsample is None else block.downsample(x))


def _mini_stage(inplanes: int, planes: int, stride: int, blocks: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))
    layers = [BasicBlock(inplanes, planes, stride, downsample)]
    layers += [BasicBlock(planes, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def resnet_mini(num_classes: int, normalize: Normalize, width: int = 16) -> Classifier:
    """A CPU-sized residual network: 3 stages of one BasicBlock (width, 2w, 4w)."""
    stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
    widths = (width, 2 * width, 4 * width)
    stages, inplanes = [], width
    for i, planes in enumerate(widths):
        stages.append(_mini_stage(inplanes, planes, stride=1 if i == 0 else 2, blocks=1))
        inplanes = planes
    model = Classifier(normalize, stem, stages, widths[-1], num_classes)
    _init_convs(model)
    return model


def narrow_resnet18(num_classes: int, normalize: Normalize, width: int) -> Classifier:
    """ResNet-18 with the CIFAR stem and stages of width, 2w, 4w and 8w channels (two
    BasicBlocks each): the paper's architecture at a width a CPU can train."""
    stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
    stages, inplanes = [], width
    for i in range(4):
        planes = width * 2**i
        stages.append(_mini_stage(inplanes, planes, stride=1 if i == 0 else 2, blocks=2))
        inplanes = planes
    model = Classifier(normalize, stem, stages, inplanes, num_classes)
    _init_convs(model)
    return model


def cifar_resnet(arch: str, num_classes: int, normalize: Normalize) -> Classifier:
    """torchvision's ResNet-18/50 with the CIFAR stem: 3x3 stride-1 conv and no max-pool."""
    from torchvision.models import resnet18, resnet50  # imported here: see BasicBlock

    net = {"resnet18": resnet18, "resnet50": resnet50}[arch](num_classes=num_classes)
    conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(conv1.weight, mode="fan_out", nonlinearity="relu")
    stem = nn.Sequential(conv1, net.bn1, net.relu)
    stages = [net.layer1, net.layer2, net.layer3, net.layer4]
    return Classifier(normalize, stem, stages, net.fc.in_features, num_classes)


def imagenet_resnet(arch: str, num_classes: int, normalize: Normalize) -> Classifier:
    """torchvision's ResNet-18/50 as built for ImageNet (7x7 stride-2 conv and max-pool): the
    architecture of the public robust ImageNet checkpoints."""
    from torchvision.models import resnet18, resnet50

    net = {"resnet18_imagenet": resnet18, "resnet50_imagenet": resnet50}[arch](num_classes=num_classes)
    stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
    stages = [net.layer1, net.layer2, net.layer3, net.layer4]
    return Classifier(normalize, stem, stages, net.fc.in_features, num_classes)


def _init_convs(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def build_model(
    arch: str,
    num_classes: int,
    mean: Sequence[float] = (0.5, 0.5, 0.5),
    std: Sequence[float] = (0.25, 0.25, 0.25),
    width: int | None = None,
) -> Classifier:
    """Build ``arch`` for 3-channel inputs. ``width`` is the first stage's channels of
    resnet_mini (default 16) and resnet18 (default 64, torchvision's); other architectures
    take their standard width (None, 0 or 64)."""
    normalize = Normalize(mean, std)
    if arch == "resnet_mini":
        return resnet_mini(num_classes, normalize, width or DEFAULT_WIDTH[arch])
    if arch == "resnet18" and width and width != DEFAULT_WIDTH[arch]:
        return narrow_resnet18(num_classes, normalize, width)
    if width and width != STANDARD_WIDTH:
        raise ValueError(f"model.width {width} applies to resnet_mini and resnet18 only; {arch} has width 64")
    if arch in ("resnet18", "resnet50"):
        return cifar_resnet(arch, num_classes, normalize)
    if arch in ("resnet18_imagenet", "resnet50_imagenet"):
        return imagenet_resnet(arch, num_classes, normalize)
    raise ValueError(f"unknown architecture {arch!r}; expected one of {', '.join(ARCHS)}")


def weight_norm(model: nn.Module) -> float:
    """||w||_2 over every trainable parameter (the paper's Fig. 5)."""
    with torch.no_grad():
        return float(torch.sqrt(sum(p.pow(2).sum() for p in model.parameters())))


def with_head(model: Classifier, head: nn.Linear) -> Classifier:
    """A copy of ``model`` whose classifier on z is ``head`` (a transferred probe or a new one)."""
    if head.in_features != model.feature_dim:
        raise ValueError(f"head takes {head.in_features} features, the model gives {model.feature_dim}")
    new = copy.deepcopy(model)
    new.head = head.to(next(model.parameters()).device)
    return new
