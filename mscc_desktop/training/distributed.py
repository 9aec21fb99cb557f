"""Device choice and multi-process (``torchrun``) training with DistributedDataParallel.

Launch with ``torchrun --nproc-per-node=N -m mscc_desktop train ...``: torchrun sets
``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``/``MASTER_PORT`` and every process runs the
same command. NCCL is used on CUDA (one GPU per process), gloo on the CPU (used by the tests:
two CPU processes). Without torchrun everything here is a no-op on one process.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DistContext:
    """Where this process runs and which part of the work it does."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """The process that validates, writes checkpoints, metrics and the progress bar."""
        return self.rank == 0


def select_device(preference: str = "auto", *, local_rank: int = 0) -> torch.device:
    """``cuda`` (this process's GPU) when asked for or available under ``auto``, else CPU."""
    if preference not in ("auto", "cpu", "cuda"):
        raise ValueError(f"unknown device {preference!r}: use auto, cpu or cuda")
    if preference == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if preference == "cuda":
        raise ValueError("--device cuda was asked for but no CUDA GPU is available")
    return torch.device("cpu")


def init_distributed(preference: str = "auto") -> DistContext:
    """Join the torchrun process group when launched by torchrun, else run alone."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = select_device(preference, local_rank=local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
        logger.info("process %d/%d joined (%s, %s)", rank, world_size, backend, device)
    return DistContext(rank, world_size, local_rank, device)


def wrap_model(model: nn.Module, context: DistContext) -> nn.Module:
    """``model`` on its device, wrapped in DDP when several processes train it."""
    model = model.to(context.device)
    if not context.distributed:
        return model
    ids = [context.device.index] if context.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside a DDP wrapper (or the model itself)."""
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


def barrier(context: DistContext) -> None:
    if context.distributed:
        dist.barrier()


def mean_across(value: float, context: DistContext) -> float:
    """Average a per-process scalar (e.g. the epoch loss) over all processes."""
    if not context.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=context.device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / context.world_size


def broadcast_flag(flag: bool, context: DistContext) -> bool:
    """Rank 0's value of ``flag`` on every process (e.g. "cancel now")."""
    if not context.distributed:
        return flag
    tensor = torch.tensor([1 if flag else 0], dtype=torch.int64, device=context.device)
    dist.broadcast(tensor, src=0)
    return bool(tensor.item())


def shutdown(context: DistContext) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()
