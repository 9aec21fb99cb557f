"""ResNet/ResNeXt bodies in the sizes the configs need, built from torchvision's blocks.

torchvision's ``ResNet`` fixes the stage widths at 64-512; the compact CPU models want narrower
or shallower variants, and tests want a tiny one. :class:`ResNetBody` keeps torchvision's child
names (``conv1``, ``bn1``, ``layer1`` ... ``layer4``) so FPN extraction, checkpoints and
ImageNet weights (for the standard sizes) work the same way. Every builder starts from random
weights: nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck


@dataclass(frozen=True, slots=True)
class ResNetSpec:
    """Depth and width of a ResNet/ResNeXt body."""

    bottleneck: bool
    layers: tuple[int, int, int, int]
    widths: tuple[int, int, int, int]  # planes of each stage (before the bottleneck expansion)
    groups: int = 1
    width_per_group: int = 64

    @property
    def out_channels(self) -> tuple[int, int, int, int]:
        factor = Bottleneck.expansion if self.bottleneck else BasicBlock.expansion
        w = self.widths
        return (w[0] * factor, w[1] * factor, w[2] * factor, w[3] * factor)


RESNET_SPECS: dict[str, ResNetSpec] = {
    "resnet50": ResNetSpec(True, (3, 4, 6, 3), (64, 128, 256, 512)),
    "resnext50_32x4d": ResNetSpec(True, (3, 4, 6, 3), (64, 128, 256, 512), 32, 4),
    "resnext26_32x4d": ResNetSpec(True, (2, 2, 2, 2), (64, 128, 256, 512), 32, 4),
    "resnext14_32x4d": ResNetSpec(True, (1, 1, 1, 1), (64, 128, 256, 512), 32, 4),
    "resnet34": ResNetSpec(False, (3, 4, 6, 3), (64, 128, 256, 512)),
    "resnet18": ResNetSpec(False, (2, 2, 2, 2), (64, 128, 256, 512)),
    "resnet10": ResNetSpec(False, (1, 1, 1, 1), (64, 128, 256, 512)),
    "resnet18_w32": ResNetSpec(False, (2, 2, 2, 2), (32, 64, 128, 256)),
    "resnet10_w32": ResNetSpec(False, (1, 1, 1, 1), (32, 64, 128, 256)),
    "tiny": ResNetSpec(False, (1, 1, 1, 1), (8, 16, 32, 64)),
}


class ResNetBody(nn.Module):
    """Stem + four residual stages, torchvision layout; ``forward`` returns the stage-4 map."""

    def __init__(self, spec: ResNetSpec, *, in_channels: int = 3) -> None:
        super().__init__()
        block: type[BasicBlock] | type[Bottleneck] = Bottleneck if spec.bottleneck else BasicBlock
        self.spec = spec
        self._groups = spec.groups
        self._base_width = spec.width_per_group
        stem = spec.widths[0]
        self.conv1 = nn.Conv2d(in_channels, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self._inplanes = stem
        self.layer1 = self._stage(block, spec.widths[0], spec.layers[0], stride=1)
        self.layer2 = self._stage(block, spec.widths[1], spec.layers[1], stride=2)
        self.layer3 = self._stage(block, spec.widths[2], spec.layers[2], stride=2)
        self.layer4 = self._stage(block, spec.widths[3], spec.layers[3], stride=2)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        # Zero-init the last BN of each residual branch: every block starts as the identity,
        # which makes training from scratch markedly more stable (Goyal et al. 2017).
        for module in self.modules():
            if isinstance(module, Bottleneck):
                nn.init.zeros_(module.bn3.weight)
            elif isinstance(module, BasicBlock):
                nn.init.zeros_(module.bn2.weight)

    def _stage(
        self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int, *, stride: int
    ) -> nn.Sequential:
        downsample: nn.Module | None = None
        if stride != 1 or self._inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self._inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        kwargs = {}
        if block is Bottleneck:
            kwargs = {"groups": self._groups, "base_width": self._base_width}
        layers: list[nn.Module] = [
            block(self._inplanes, planes, stride, downsample, **kwargs)  # type: ignore[arg-type]
        ]
        self._inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self._inplanes, planes, **kwargs))  # type: ignore[arg-type]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        out: Tensor = self.layer4(x)
        return out


def build_body(arch: str, *, in_channels: int = 3) -> ResNetBody:
    """A randomly initialised body called ``arch`` (see :data:`RESNET_SPECS`)."""
    try:
        spec = RESNET_SPECS[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}: use {', '.join(RESNET_SPECS)}") from None
    return ResNetBody(spec, in_channels=in_channels)
