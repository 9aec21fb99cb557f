"""The detector as the model I/O contract wants it: images ``(N, 3, D, D)`` → best canal box.

torchvision's Faster R-CNN works on Python lists of images and loops over them in the RPN and
box post-processing, so a traced graph is frozen to the example batch size. This module runs
the *same trained layers* with dense, batch-first tensor code instead:

1. backbone + FPN and the RPN head on the whole batch;
2. per level, the ``pre_nms_top_n`` best anchors of each image (a fixed count, so dense);
3. one NMS call over all images and levels at once (boxes offset per image/level group),
   then the ``post_nms_top_n`` best surviving proposals per image via ``topk`` on scores with
   suppressed entries pushed to the bottom (a fixed count, so still dense; unused slots are
   masked out of the final scores);
4. multi-scale RoIAlign on the flat ``(N·P, 5)`` RoI tensor, the box head and predictor;
5. the top-scoring canal box per image (0-score zero box when nothing beats the threshold).

The top box equals torchvision's first detection: NMS never removes the highest-scoring box, so
skipping the final NMS changes nothing for the top-1 output (tested against the eager model).
Exported with the TorchScript ONNX exporter and a dynamic batch axis.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.ops import box_area, nms, roi_align

# Ranking score given to suppressed or invalid proposals: below every sigmoid probability.
_SUPPRESSED = -1.0


def _decoys(like: Tensor) -> Tensor:
    """Two boxes left of and above every real one (real boxes start at 0), far apart."""
    corners = torch.tensor(
        [[-40.0, -40.0, -30.0, -30.0], [-80.0, -80.0, -70.0, -70.0]], dtype=like.dtype
    )
    return corners.to(like.device)


class CanalDetector(nn.Module):
    """Batch-first top-1 canal detector built from a trained torchvision ``FasterRCNN``."""

    # Buffers (register_buffer): declared so that they read as tensors, not as
    # nn.Module.__getattr__'s ``Tensor | Module``.
    image_mean: Tensor
    image_std: Tensor
    anchors: Tensor

    def __init__(self, model: FasterRCNN, *, input_size: int) -> None:
        super().__init__()
        self.input_size = int(input_size)
        transform = model.transform
        self.register_buffer(
            "image_mean", torch.tensor(transform.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        )
        self.register_buffer(
            "image_std", torch.tensor(transform.image_std, dtype=torch.float32).view(1, 3, 1, 1)
        )
        self.backbone = model.backbone
        rpn = model.rpn
        self.rpn_head = rpn.head
        self.rpn_box_coder = rpn.box_coder
        self.rpn_pre_nms_top_n = int(rpn._pre_nms_top_n["testing"])
        self.rpn_post_nms_top_n = int(rpn._post_nms_top_n["testing"])
        self.rpn_nms_thresh = float(rpn.nms_thresh)
        self.rpn_min_size = float(rpn.min_size)
        heads = model.roi_heads
        self.box_head = heads.box_head
        self.box_predictor = heads.box_predictor
        self.box_coder = heads.box_coder
        self.score_thresh = float(heads.score_thresh)
        pool = heads.box_roi_pool
        self.featmap_names = list(pool.featmap_names)
        self.output_size = tuple(pool.output_size)
        self.sampling_ratio = int(pool.sampling_ratio)
        self._setup_geometry(rpn.anchor_generator)

    @torch.no_grad()
    def _setup_geometry(self, anchor_generator: AnchorGenerator) -> None:
        """Anchors, anchor counts per level and RoI scales are fixed by D: compute them once."""
        was_training = self.backbone.training
        self.backbone.eval()
        probe = torch.zeros(1, 3, self.input_size, self.input_size)
        device = next(self.backbone.parameters()).device
        feature_maps = self.backbone(probe.to(device))
        self.backbone.train(was_training)
        features = list(feature_maps.values())
        grid_sizes = [f.shape[-2:] for f in features]
        strides = [
            [
                torch.tensor(self.input_size // g[0], dtype=torch.int64),
                torch.tensor(self.input_size // g[1], dtype=torch.int64),
            ]
            for g in grid_sizes
        ]
        anchor_generator.set_cell_anchors(torch.float32, torch.device("cpu"))
        per_level = anchor_generator.grid_anchors(grid_sizes, strides)
        self.anchors_per_level = [int(a.shape[0]) for a in per_level]
        self.register_buffer("anchors", torch.cat(per_level).to(torch.float32))
        # RoI pooling levels (torchvision's FPN level mapper, canonical 224 px at level 4).
        pooled = [feature_maps[name] for name in self.featmap_names]
        self.roi_scales = [2.0 ** round(math.log2(f.shape[-1] / self.input_size)) for f in pooled]
        self.k_min = int(-math.log2(self.roi_scales[0]))
        self.k_max = int(-math.log2(self.roi_scales[-1]))

    def _proposals(self, features: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Dense RPN: ``(N, P, 4)`` proposals and ``(N, P)`` validity (1 = real proposal)."""
        objectness, deltas = self.rpn_head(features)
        n = features[0].shape[0]
        objectness, deltas = concat_box_prediction_layers(objectness, deltas)
        objectness = objectness.reshape(n, -1)
        n_anchors = self.anchors.shape[0]
        anchors = self.anchors.unsqueeze(0).expand(n, n_anchors, 4).reshape(-1, 4)
        boxes = self.rpn_box_coder.decode_single(deltas, anchors).reshape(n, -1, 4)

        # Per FPN level: the top-k anchors of each image, then NMS within each (image, level)
        # group. One NMS call per level (a static loop of 4-5), with each image's boxes
        # shifted by a multiple of the largest coordinate so that images never overlap (no
        # data-dependent branch, unlike torchvision's batched_nms, so it exports cleanly).
        # NMS costs grow with the square of the boxes in a call: one call for all levels at
        # once made batch 32 slower than batch 8 on an H100.
        image_idx = torch.arange(n, device=objectness.device).unsqueeze(1)
        picked_scores: list[Tensor] = []
        picked_boxes: list[Tensor] = []
        offset = 0
        for count in self.anchors_per_level:
            k = min(self.rpn_pre_nms_top_n, count)
            level_logits, idx = objectness[:, offset : offset + count].topk(k, dim=1)
            level_boxes = torch.gather(
                boxes[:, offset : offset + count], 1, idx.unsqueeze(-1).expand(n, k, 4)
            ).clamp(min=0.0, max=float(self.input_size))
            offset += count
            level_scores = torch.sigmoid(level_logits)
            width = level_boxes[..., 2] - level_boxes[..., 0]
            height = level_boxes[..., 3] - level_boxes[..., 1]
            large = (width >= self.rpn_min_size) & (height >= self.rpn_min_size)
            level_scores = torch.where(
                large, level_scores, torch.full_like(level_scores, _SUPPRESSED)
            )
            flat_scores = level_scores.reshape(-1)
            shift = (image_idx.expand(n, k).reshape(-1).to(level_boxes.dtype)) * (
                float(self.input_size) + 1.0
            )
            # torchvision's NMS tells torch.export that it keeps at least 2 boxes, and the
            # exported program asserts it at run time; a coarse level of a single image can
            # keep one. Two far-away decoy boxes with the top scores make it always true;
            # their marks are dropped again.
            flat_boxes = torch.cat(
                [level_boxes.reshape(-1, 4) + shift[:, None], _decoys(level_boxes)]
            )
            decoy_scores = torch.full((2,), 2.0, dtype=flat_scores.dtype, device=flat_scores.device)
            keep = nms(flat_boxes, torch.cat([flat_scores, decoy_scores]), self.rpn_nms_thresh)
            marks = torch.zeros_like(flat_boxes[:, 0]).scatter(0, keep, 1.0)
            kept = marks[: flat_scores.shape[0]] > 0.5
            ranked_level = torch.where(kept, flat_scores, torch.full_like(flat_scores, _SUPPRESSED))
            picked_scores.append(ranked_level.reshape(n, k))
            picked_boxes.append(level_boxes)
        ranked = torch.cat(picked_scores, dim=1)
        boxes = torch.cat(picked_boxes, dim=1)
        k_total = ranked.shape[1]
        p = min(self.rpn_post_nms_top_n, k_total)
        top_scores, top_idx = ranked.topk(p, dim=1)
        proposals = torch.gather(boxes, 1, top_idx.unsqueeze(-1).expand(n, p, 4))
        valid = (top_scores > _SUPPRESSED / 2).to(proposals.dtype)
        return proposals, valid

    def _roi_pool(self, features: dict[str, Tensor], rois: Tensor) -> Tensor:
        """Multi-scale RoIAlign of ``rois`` ``(R, 5)`` (batch index, x0, y0, x1, y1)."""
        maps = [features[name] for name in self.featmap_names]
        size = torch.sqrt(box_area(rois[:, 1:]))
        # FPN paper eq. (1): level = floor(4 + log2(sqrt(area) / 224)), clamped to the pyramid.
        target = torch.floor(4.0 + torch.log2(size / 224.0) + 1e-6)
        level = target.clamp(min=self.k_min, max=self.k_max).to(torch.int64) - self.k_min
        pooled: list[Tensor] = []
        order: list[Tensor] = []
        for index, (fmap, scale) in enumerate(zip(maps, self.roi_scales, strict=True)):
            members = torch.where(level == index)[0]
            order.append(members)
            pooled.append(
                roi_align(
                    fmap,
                    rois[members],
                    output_size=self.output_size,
                    spatial_scale=scale,
                    sampling_ratio=self.sampling_ratio,
                )
            )
        inverse = torch.argsort(torch.cat(order))
        return torch.cat(pooled)[inverse]

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``images`` ``(N, 3, D, D)`` in [0, 1] → boxes ``(N, 4)`` and scores ``(N,)``."""
        x = (images - self.image_mean) / self.image_std
        features = self.backbone(x)
        proposals, valid = self._proposals(list(features.values()))
        n, p = proposals.shape[0], proposals.shape[1]
        batch_index = torch.arange(n, device=x.device, dtype=x.dtype).unsqueeze(1).expand(n, p)
        rois = torch.cat([batch_index.reshape(-1, 1), proposals.reshape(-1, 4)], dim=1)
        pooled = self._roi_pool(features, rois)
        class_logits, regression = self.box_predictor(self.box_head(pooled))
        boxes = self.box_coder.decode_single(regression, rois[:, 1:])[:, 4:8]
        boxes = boxes.clamp(min=0.0, max=float(self.input_size)).reshape(n, p, 4)
        scores = torch.softmax(class_logits, dim=-1)[:, 1].reshape(n, p) * valid
        not_empty = ((boxes[..., 2] - boxes[..., 0]) >= 1e-2) & (
            (boxes[..., 3] - boxes[..., 1]) >= 1e-2
        )
        scores = scores * not_empty.to(scores.dtype)
        best_score, best = scores.max(dim=1)
        best_box = torch.gather(boxes, 1, best.view(n, 1, 1).expand(n, 1, 4)).squeeze(1)
        found = (best_score > self.score_thresh).to(scores.dtype)
        return best_box * found.unsqueeze(1), best_score * found
