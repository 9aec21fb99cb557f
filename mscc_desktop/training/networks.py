"""Network builders: the Faster R-CNN canal detector and the grader backbones.

Nothing is ever downloaded: every torchvision builder is called with ``weights=None``. A user
who has ImageNet weights on disk passes them with ``--init-weights`` (:func:`load_init_weights`).

Batch norm is always ``nn.BatchNorm2d`` so the module structure (and checkpoints) do not depend
on how the model was trained; configs that fine-tune pretrained weights freeze it instead
(:func:`freeze_batch_norm`), which is what torchvision's ``FrozenBatchNorm2d`` does.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN, mobilenet_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from mscc_desktop.training.backbones import RESNET_SPECS, build_body
from mscc_desktop.training.configs import DETECTOR_CLASSES, DetectorConfig

logger = logging.getLogger(__name__)

# Detector input normalisation inside the network (ImageNet statistics, so that a user's
# ImageNet-initialised backbone sees what it expects; harmless from scratch).
DETECTOR_IMAGE_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
DETECTOR_IMAGE_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def _resnet_fpn(config: DetectorConfig) -> BackboneWithFPN:
    body = build_body(config.backbone)
    out_channels = body.spec.out_channels
    in_channels = [out_channels[k - 1] for k in config.returned_layers]
    return_layers = {f"layer{k}": str(i) for i, k in enumerate(config.returned_layers)}
    return BackboneWithFPN(
        body,
        return_layers=return_layers,
        in_channels_list=in_channels,
        out_channels=config.fpn_channels,
        extra_blocks=LastLevelMaxPool(),
    )


def build_detector(config: DetectorConfig) -> FasterRCNN:
    """Faster R-CNN for one class (the spinal canal) as described by ``config``.

    The internal transform neither up- nor down-samples: ``min_size = max_size = D``, and the
    caller feeds ``D × D`` images from :func:`~mscc_desktop.inference.preprocess.detector_input`
    (torchvision would otherwise silently resize to 800 px).
    """
    if config.backbone in RESNET_SPECS:
        backbone = _resnet_fpn(config)
    elif config.backbone == "mobilenet_v3_large":
        backbone = mobilenet_backbone(
            backbone_name="mobilenet_v3_large",
            weights=None,
            fpn=True,
            norm_layer=nn.BatchNorm2d,
            trainable_layers=6,
        )
    else:
        raise ValueError(f"unknown detector backbone {config.backbone!r}")
    n_levels = len(config.anchor_sizes)
    anchors = AnchorGenerator(
        sizes=config.anchor_sizes, aspect_ratios=(config.aspect_ratios,) * n_levels
    )
    featmap_names = [str(i) for i in range(n_levels - 1)]
    roi_pool = MultiScaleRoIAlign(featmap_names=featmap_names, output_size=7, sampling_ratio=2)
    channels = int(backbone.out_channels)
    box_head = TwoMLPHead(channels * 7 * 7, config.representation_size)
    predictor = FastRCNNPredictor(config.representation_size, len(DETECTOR_CLASSES))
    model = FasterRCNN(
        backbone,
        num_classes=None,
        min_size=config.input_size,
        max_size=config.input_size,
        image_mean=list(DETECTOR_IMAGE_MEAN),
        image_std=list(DETECTOR_IMAGE_STD),
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=config.rpn_pre_nms_top_n_train,
        rpn_post_nms_top_n_train=config.rpn_post_nms_top_n_train,
        rpn_pre_nms_top_n_test=config.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_test=config.rpn_post_nms_top_n_test,
        rpn_batch_size_per_image=config.rpn_batch_size_per_image,
        box_roi_pool=roi_pool,
        box_head=box_head,
        box_predictor=predictor,
        box_score_thresh=config.box_score_thresh,
        box_batch_size_per_image=config.box_batch_size_per_image,
        box_detections_per_img=10,
    )
    return model


def freeze_batch_norm(model: nn.Module) -> None:
    """Put every BatchNorm in eval mode with frozen affine parameters (fine-tuning)."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()
            for param in module.parameters():
                param.requires_grad_(False)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def load_init_weights(module: nn.Module, path: Path) -> tuple[int, int]:
    """Load a local state dict (e.g. ImageNet weights the user downloaded) into ``module``.

    Keys are matched by name and shape; mismatches are skipped and counted, never fatal, so a
    torchvision classification checkpoint can initialise a detector backbone. A 3-channel first
    convolution is summed over its input channels for 1-channel grader stems.

    Returns
    -------
    loaded, skipped
        Number of tensors copied and skipped.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    own = module.state_dict()
    loaded = 0
    update: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        target = own.get(key)
        if target is None:
            continue
        if target.shape != value.shape and value.dim() == 4 and target.shape[1] == 1:
            value = value.sum(dim=1, keepdim=True)
        if target.shape == value.shape:
            update[key] = value.to(target.dtype)
            loaded += 1
    module.load_state_dict(update, strict=False)
    skipped = len(state) - loaded
    logger.info("init weights %s: %d tensors loaded, %d skipped", path.name, loaded, skipped)
    return loaded, skipped
