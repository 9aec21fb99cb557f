"""Exponential moving average of a network's weights during training (``weight_average_decay``).

A network trained only on synthetic phantoms is judged on real CT, which lies outside
everything it saw; there its answers swing between training runs far more than between
settings (see docs/TRAINING_EXPERIMENTS.md, E7). Averaging the weights along the end of the
trajectory lands in a flatter region of the loss, which is known to carry better to shifted
domains (Izmailov et al. 2018, SWA; Cha et al. 2021, SWAD) and costs nothing at inference.

Built on :class:`torch.optim.swa_utils.AveragedModel` with ``use_buffers=True``, so the
batch-norm running statistics (one set per window in the CWL grader) are averaged with the
weights and the averaged copy can be evaluated and exported as it is. The effective decay
warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so the random initial
weights do not linger in the average for hundreds of steps.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def effective_decay(decay: float, updates: int) -> float:
    """The decay used for the update after ``updates`` earlier ones."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class WeightAverage:
    """An EMA copy of ``model``: :meth:`update` after each optimiser step, :attr:`module` to use.

    ``decay`` must lie in (0, 1); the caller decides whether averaging is on at all.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"weight average decay must lie between 0 and 1, not {decay}")
        self.decay = float(decay)
        self._step_decay = self.decay

        def ema(
            averaged: list[torch.Tensor] | tuple[torch.Tensor, ...],
            current: list[torch.Tensor] | tuple[torch.Tensor, ...],
            _count: torch.Tensor | int,
        ) -> None:
            # Grouped by dtype: float tensors move towards the model, counters (BN's
            # num_batches_tracked) are copied.
            if averaged and averaged[0].is_floating_point():
                torch._foreach_lerp_(averaged, current, 1.0 - self._step_decay)
            else:
                torch._foreach_copy_(averaged, current)

        self._averaged = AveragedModel(model, multi_avg_fn=ema, use_buffers=True)

    @property
    def module(self) -> nn.Module:
        """The averaged network (same class and state-dict keys as the trained one)."""
        return self._averaged.module

    @property
    def updates(self) -> int:
        return int(self._averaged.n_averaged)

    def update(self, model: nn.Module) -> None:
        # The first update copies the model; the n-th after it uses effective_decay(n - 1).
        self._step_decay = effective_decay(self.decay, max(0, self.updates - 1))
        self._averaged.update_parameters(model)

    def load(self, state: dict[str, torch.Tensor], updates: int) -> None:
        """Restore the average saved by a checkpoint (resume)."""
        self.module.load_state_dict(state)
        self._averaged.n_averaged.fill_(updates)
