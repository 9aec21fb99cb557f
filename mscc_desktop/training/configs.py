"""Named network configurations: ``paper`` (the published architecture) and ``compact``.

``paper`` is Hallinan et al. 2023: Faster R-CNN ResNet50-FPN on 512² slices and a ResNeXt50-32x4d
CWL grader on 224² crops, trained with the paper's optimiser settings. ``compact`` is what we ship
for CPU workstations; its sizes were chosen with ``scripts/time_training_step.py`` (see the
numbers in ``docs/TRAINING_EXPERIMENTS.md``). ``tiny`` exists for tests only: it trains in
seconds and is never shipped.

Optimiser defaults differ for ``compact`` on purpose: the paper fine-tuned ImageNet weights (tiny
learning rates), whereas we train from random initialisation (no weight downloads), which
needs a larger learning rate and the same rate for backbone and head.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_T = TypeVar("_T")

DETECTOR_CLASSES: tuple[str, ...] = ("background", "canal")


@dataclass(frozen=True, slots=True)
class OptimiserConfig:
    """SGD with momentum (or AdamW), optional linear warm-up then cosine decay to
    ``final_lr_fraction``. With AdamW ``momentum`` is beta1 and ``weight_decay`` is
    decoupled."""

    lr: float
    momentum: float = 0.9
    weight_decay: float = 0.0005
    backbone_lr_ratio: float = 1.0  # backbone learning rate = lr * ratio (paper grader: 0.1)
    warmup_steps: int = 0
    cosine: bool = False
    final_lr_fraction: float = 0.05
    grad_clip_norm: float | None = None
    algorithm: str = "sgd"  # "sgd" or "adamw"


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Faster R-CNN with an FPN backbone, two classes (background, canal)."""

    name: str
    backbone: str  # a backbones.RESNET_SPECS name or mobilenet_v3_large
    input_size: int  # D: square detector input in pixels
    returned_layers: tuple[int, ...]  # backbone stages feeding the FPN (1 = stride 4)
    fpn_channels: int
    anchor_sizes: tuple[tuple[int, ...], ...]  # one tuple per FPN level (+ the pool level)
    aspect_ratios: tuple[float, ...]
    representation_size: int  # box head MLP width
    rpn_pre_nms_top_n_train: int
    rpn_post_nms_top_n_train: int
    rpn_pre_nms_top_n_test: int
    rpn_post_nms_top_n_test: int
    rpn_batch_size_per_image: int
    box_batch_size_per_image: int
    box_score_thresh: float
    trainable_norm: bool  # BatchNorm that learns (from scratch) vs frozen (fine-tuning)
    epochs: int
    batch_size: int
    optimiser: OptimiserConfig
    hflip_probability: float = 0.5  # used by the "flip" augmentation
    augmentation: str = "ct"  # a training.augment.AUGMENTATIONS preset

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class GraderConfig:
    """CWL grader: shared convolutions, one batch-norm set per window, prototype head."""

    name: str
    arch: str  # a backbones.RESNET_SPECS name
    crop_size: int  # S
    crop_margin: float  # crop_region margin (fraction of the box's larger side, each way)
    n_windows: int
    temperature: float  # T in logit = -||f - p||^2 / T
    compactness_weight: float  # lambda
    epochs: int
    batch_size: int  # slices per step (each seen in every window: W equal-size batches)
    optimiser: OptimiserConfig
    scale_range: tuple[float, float] = (0.8, 1.2)  # random resized crop, as area fraction
    aspect_range: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    centre_jitter: float = 0.1  # box-centre shift, fraction of the box's larger side
    hflip_probability: float = 0.5
    exclude_degenerative: bool = True
    augmentation: str = "ct"  # HU-domain augmentation preset (training.augment)
    rotation_deg: float = 10.0  # random rotation of the patch with "ct" augmentation
    # EMA of the weights (training.weight_average), validated, checkpointed and exported in
    # place of the last weights; 0 turns it off.
    weight_average_decay: float = 0.0
    feature_dim: int = field(default=0)  # filled from the architecture at build time

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_PAPER_DETECTOR = DetectorConfig(
    name="paper",
    backbone="resnet50",
    input_size=512,
    returned_layers=(1, 2, 3, 4),
    fpn_channels=256,
    anchor_sizes=((16,), (32,), (64,), (128,), (256,)),
    aspect_ratios=(0.5, 1.0, 2.0),
    representation_size=1024,
    rpn_pre_nms_top_n_train=2000,
    rpn_post_nms_top_n_train=2000,
    rpn_pre_nms_top_n_test=1000,
    rpn_post_nms_top_n_test=1000,
    rpn_batch_size_per_image=256,
    box_batch_size_per_image=512,
    box_score_thresh=0.05,
    trainable_norm=False,
    epochs=20,
    batch_size=4,
    optimiser=OptimiserConfig(lr=0.0003, momentum=0.9, weight_decay=0.0005),
)

# Canal boxes are ~12-25 mm; at 0.6-0.98 mm pixels on a 512 matrix that is 12-42 px, so
# 7-26 px at D=320. Stride-8 features with 8-24 px anchors cover it; stride 4 (P2) would cost
# more than the whole ResNet18 in the RPN conv alone. The RPN head is shared across levels, so
# every level has the same number of anchors (2 sizes x 3 ratios).
_COMPACT_DETECTOR = DetectorConfig(
    name="compact",
    backbone="resnet18_w32",
    input_size=320,
    returned_layers=(2, 3, 4),
    fpn_channels=128,
    anchor_sizes=((8, 12), (16, 24), (32, 48), (64, 96)),
    aspect_ratios=(0.75, 1.0, 1.33),
    representation_size=256,
    rpn_pre_nms_top_n_train=600,
    rpn_post_nms_top_n_train=300,
    # Inference only: one canal per slice needs few candidates. On E7's checkpoint
    # (scripts/detector_proposal_sweep.py) 100/10 instead of 300/50 cut the ONNX detector's CPU
    # time per slice by 16 % (NMS and RoIAlign) and moved test AP50 from 0.9990 to 0.9979 (one
    # slice of 975); the real-CT canal check was unchanged.
    rpn_pre_nms_top_n_test=100,
    rpn_post_nms_top_n_test=10,
    rpn_batch_size_per_image=128,
    box_batch_size_per_image=128,
    box_score_thresh=0.05,
    trainable_norm=True,
    epochs=5,
    batch_size=8,
    # Issue 20: small-field spine reconstructions (the canal 2-3x larger) in a quarter of steps.
    augmentation="ct_small_fov",
    optimiser=OptimiserConfig(
        lr=0.02,
        momentum=0.9,
        weight_decay=0.0001,
        warmup_steps=100,
        cosine=True,
        grad_clip_norm=10.0,
    ),
)

_TINY_DETECTOR = replace(
    _COMPACT_DETECTOR,
    name="tiny",
    backbone="tiny",
    input_size=64,
    fpn_channels=16,
    anchor_sizes=((8, 12), (16, 24), (32, 40), (48, 56)),
    representation_size=32,
    rpn_pre_nms_top_n_train=100,
    rpn_post_nms_top_n_train=50,
    rpn_pre_nms_top_n_test=100,
    rpn_post_nms_top_n_test=20,
    rpn_batch_size_per_image=32,
    box_batch_size_per_image=32,
    epochs=2,
    batch_size=2,
    optimiser=OptimiserConfig(lr=0.01, warmup_steps=2, grad_clip_norm=10.0),
    augmentation="flip",
)

_PAPER_GRADER = GraderConfig(
    name="paper",
    arch="resnext50_32x4d",
    crop_size=224,
    crop_margin=0.5,
    n_windows=3,
    temperature=10.0,
    compactness_weight=0.5,
    epochs=200,
    batch_size=24,
    optimiser=OptimiserConfig(lr=0.001, momentum=0.9, weight_decay=0.0005, backbone_lr_ratio=0.1),
)

# From random initialisation, SGD left the prototype head near chance for hundreds of steps
# on noisy, domain-randomised crops (see the README); AdamW learns within a few epochs.
_COMPACT_GRADER = replace(
    _PAPER_GRADER,
    name="compact",
    arch="resnet18_w32",
    crop_size=112,
    # Sim-to-real (docs/TRAINING_EXPERIMENTS.md, E7): a tighter crop around the canal (less of
    # the bony frame, which phantoms draw thicker than real vertebrae) and the shape/soft-kernel
    # augmentation. Against E5's settings, the recipe run E7 raised test AC1 0.83 -> 0.86 and
    # cut real-CT false high-grade calls 17 -> 9 of 28 (the GPU sweep had 12 -> 0).
    crop_margin=0.25,
    augmentation="ct_shape_soft",
    epochs=40,
    batch_size=32,
    optimiser=OptimiserConfig(
        lr=0.002,
        momentum=0.9,
        weight_decay=0.0001,
        backbone_lr_ratio=1.0,
        warmup_steps=50,
        cosine=True,
        grad_clip_norm=10.0,
        algorithm="adamw",
    ),
)

_TINY_GRADER = replace(
    _COMPACT_GRADER,
    name="tiny",
    arch="tiny",
    crop_size=32,
    crop_margin=0.5,
    epochs=2,
    batch_size=4,
    optimiser=OptimiserConfig(lr=0.01, warmup_steps=0, grad_clip_norm=10.0),
    augmentation="flip",
    rotation_deg=0.0,
)

DETECTOR_CONFIGS: dict[str, DetectorConfig] = {
    c.name: c for c in (_PAPER_DETECTOR, _COMPACT_DETECTOR, _TINY_DETECTOR)
}
GRADER_CONFIGS: dict[str, GraderConfig] = {
    c.name: c for c in (_PAPER_GRADER, _COMPACT_GRADER, _TINY_GRADER)
}
PUBLIC_CONFIGS: tuple[str, ...] = ("paper", "compact")
"""Configs offered on the command line (``tiny`` is accepted too, for tests)."""


def named(table: Mapping[str, _T], name: str, what: str) -> _T:
    """``table[name]``; a ``ValueError`` naming ``what`` and listing the choices otherwise."""
    try:
        return table[name]
    except KeyError:
        choices = ", ".join(table)
        raise ValueError(f"unknown {what} {name!r}: use {choices}") from None


def detector_config(name: str) -> DetectorConfig:
    """The detector config called ``name``; ``ValueError`` listing the choices otherwise."""
    return named(DETECTOR_CONFIGS, name, "detector config")


def grader_config(name: str) -> GraderConfig:
    """The grader config called ``name``; ``ValueError`` listing the choices otherwise."""
    return named(GRADER_CONFIGS, name, "grader config")


_ConfigT = TypeVar("_ConfigT", DetectorConfig, GraderConfig)


def _parse_value(text: str, current: Any, key: str, *, optional: bool) -> Any:
    """``text`` as the type of the field's current value (tuples: comma-separated); ``none``
    for a field that may be ``None``."""
    if optional and text.lower() == "none":
        return None
    if current is None:  # an optional number that is unset in this config
        current = 0.0
    if isinstance(current, tuple) and current and isinstance(current[0], tuple):
        raise ValueError(f"cannot set {key}: nested tuples cannot be set from the command line")
    try:
        if isinstance(current, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if isinstance(current, tuple):
            items = [item.strip() for item in text.split(",") if item.strip()]
            kind = type(current[0]) if current else float
            return tuple(kind(item) for item in items)
        return type(current)(text)
    except ValueError:
        raise ValueError(
            f"cannot set {key}={text!r}: expected {type(current).__name__} like {current!r}"
        ) from None


def with_overrides(config: _ConfigT, overrides: Mapping[str, str]) -> _ConfigT:
    """``config`` with top-level fields replaced from ``KEY=VALUE`` text (``--set``); nested
    optimiser fields are ``optimiser.KEY``. ``ValueError`` names an unknown key and the choices."""
    top: dict[str, Any] = {}
    optimiser: dict[str, Any] = {}
    for key, text in overrides.items():
        target: DataclassInstance = config
        table, name = top, key
        if key.startswith("optimiser."):
            target, table, name = config.optimiser, optimiser, key.split(".", 1)[1]
        known = {f.name: f for f in fields(target) if f.name not in ("feature_dim", "name")}
        if name not in known:
            raise ValueError(f"unknown setting {key!r}: use {', '.join(known)}")
        optional = "None" in str(known[name].type)
        table[name] = _parse_value(text, getattr(target, name), key, optional=optional)
    if "augmentation" in top:
        from mscc_desktop.training.augment import augmentation

        augmentation(str(top["augmentation"]))  # fail now, with the choices, not mid-training
    if optimiser:
        top["optimiser"] = replace(config.optimiser, **optimiser)
    return replace(config, **top)


def detector_config_from_dict(data: dict[str, Any]) -> DetectorConfig:
    """Rebuild a :class:`DetectorConfig` saved with :meth:`DetectorConfig.to_dict`."""
    values = dict(data)
    values["optimiser"] = OptimiserConfig(**values["optimiser"])
    values["returned_layers"] = tuple(values["returned_layers"])
    values["anchor_sizes"] = tuple(tuple(s) for s in values["anchor_sizes"])
    values["aspect_ratios"] = tuple(values["aspect_ratios"])
    return DetectorConfig(**values)


def grader_config_from_dict(data: dict[str, Any]) -> GraderConfig:
    """Rebuild a :class:`GraderConfig` saved with :meth:`GraderConfig.to_dict`."""
    values = dict(data)
    values["optimiser"] = OptimiserConfig(**values["optimiser"])
    for key in ("scale_range", "aspect_range"):
        values[key] = tuple(values[key])
    return GraderConfig(**values)
