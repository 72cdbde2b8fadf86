"""Data parallelism for ``training.train``: the same code on one process or under ``torchrun``.

    torchrun --nproc_per_node=2 -m course_lib.cli train gpt-char     # or any script calling train()

``torchrun`` starts N copies of the program and tells each its ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE``. ``context()`` reads them and joins the process group (gloo on the CPU, NCCL on
CUDA); a single process gets a context of one, so nothing changes. Inside ``train``:

- every process draws the **same** batch stream and keeps its own slice of each batch
  (``shard``: rows ``rank * B/N`` to ``(rank + 1) * B/N``), so the N slices together are the
  one-process batch, and data parallelism changes how a step is computed, not what it computes;
- the model is wrapped in ``DistributedDataParallel``, which averages the gradients of the N
  slices during the backward pass. For a loss that is a mean over the batch's examples, the
  averaged gradient is the one-process gradient, and N processes end with the same weights as
  one (tested to 1e-5); a loss averaged over tokens (padding ignored) weighs slices with more
  tokens slightly differently, so there the runs agree only approximately;
- decisions that depend on the clock (``max_minutes``, ``steps_within``) are made by rank 0
  and sent to the others (``agree``), so no process waits for one that already stopped;
- only rank 0 shows progress, evaluates and writes checkpoints; a checkpoint holds the bare
  model and the position in the (shared) stream, so it resumes with any number of processes.

A process that fails ends the run: ``torchrun`` stops the others and reports which rank failed
and why; the process group has a timeout so that nothing waits forever.
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime
import os
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

TIMEOUT = datetime.timedelta(minutes=5)


@dataclasses.dataclass(frozen=True)
class Context:
    """This process's place in the run: ``rank`` of ``world_size`` (0 of 1 when alone)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.world_size > 1


def context(device: torch.device | None = None) -> Context:
    """This process's Context, joining torchrun's process group on first use."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Context()
    if not dist.is_initialized():
        cuda = device is not None and device.type == "cuda"
        if cuda:
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
        atexit.register(_leave)
    return Context(dist.get_rank(), dist.get_world_size())


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def shard(batch: Any, ctx: Context) -> Any:
    """This process's slice of a batch: the same rows of every tensor in it (lengths too)."""
    if not ctx.parallel:
        return batch
    if isinstance(batch, torch.Tensor):
        if batch.dim() == 0 or batch.shape[0] % ctx.world_size:
            raise ValueError(
                f"a batch of {batch.shape[0] if batch.dim() else 'no'} rows cannot be split "
                f"evenly over {ctx.world_size} processes: use a batch size divisible by "
                "--nproc_per_node")
        size = batch.shape[0] // ctx.world_size
        return batch[ctx.rank * size : (ctx.rank + 1) * size]
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard(item, ctx) for item in batch)
    if isinstance(batch, dict):
        return {key: shard(value, ctx) for key, value in batch.items()}
    if dataclasses.is_dataclass(batch):
        return dataclasses.replace(batch, **{
            f.name: shard(getattr(batch, f.name), ctx) for f in dataclasses.fields(batch)
            if getattr(batch, f.name) is not None})
    return batch


class DataParallel(DistributedDataParallel):
    """``DistributedDataParallel`` that also answers for its model's attributes (``pad_id``,
    ``vocab_size``), so a loss function written for the bare model works unchanged."""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def wrap(model: torch.nn.Module, ctx: Context) -> torch.nn.Module:
    """The model as the loss function should see it: wrapped for gradient averaging, or as is."""
    if not ctx.parallel:
        return model
    device = next(model.parameters()).device
    return DataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def mean(value: float, ctx: Context) -> float:
    """The mean of ``value`` over all processes (the loss of the whole batch)."""
    if not ctx.parallel:
        return value
    total = torch.tensor([value], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        total = total.cuda()
    dist.all_reduce(total)
    return float(total.item()) / ctx.world_size


def agree(value, ctx: Context):
    """Rank 0's ``value`` on every process (a plan, a stop decision: anything picklable)."""
    if not ctx.parallel:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
