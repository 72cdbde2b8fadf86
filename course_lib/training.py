"""One training loop for every neural model of the course, with checkpoints that resume exactly.

``train(model, loss_fn, batches, config)`` runs AdamW with warm-up and optional cosine decay,
gradient clipping, periodic evaluation and checkpoints. The loop itself is short enough to
read in a lecture; checkpoints, batch cycling and random-number states live in
``course_lib.checkpoints``. A run that is interrupted and resumed from its checkpoint ends
bit-identical (on the CPU) to one that was never interrupted: the checkpoint holds the model,
the optimizer, the step, the ``History``, every random-number generator and the position in
the data. ``TrainConfig(budget_minutes=...)`` trains to a wall-clock budget instead, re-planning
the number of steps as it goes (``course_lib.budget``). The settings (``TrainConfig``) and
what a run records (``History``) are in ``course_lib.run_record``, re-exported here.
"""

from __future__ import annotations

import copy
import math
import os
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib import distributed
from course_lib.budget import BudgetPlanner, lr_at
from course_lib.checkpoints import (
    batch_stream,
    restore_checkpoint,
    rng_state,
    set_rng_state,
    write_checkpoint,
)
from course_lib.device import autocast, seed_everything
from course_lib.run_record import History, TrainConfig

__all__ = [
    "History", "LossFn", "Optimizers", "TrainConfig", "default_optimizer", "evaluate_loss", "load_checkpoint",
    "planned_config", "steps_within", "train",
]

LossFn = Callable[[torch.nn.Module, Any], torch.Tensor]


class Optimizers:
    """Several optimizers that ``train`` drives as one, e.g. ``SparseAdam`` for a sparse
    embedding and ``Adam`` for the rest (chapter 04). ``param_groups`` lists every optimizer's
    groups (``train`` sets their learning rate); ``step``, ``zero_grad``, ``state_dict`` and
    ``load_state_dict`` act on each in turn, so checkpoints work too."""

    def __init__(self, *optimizers: torch.optim.Optimizer):
        if not optimizers:
            raise ValueError("Optimizers needs at least one optimizer")
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict]:
        return [group for optimizer in self.optimizers for group in optimizer.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for optimizer in self.optimizers:
            optimizer.step()

    def state_dict(self) -> dict:
        return {"optimizers": [optimizer.state_dict() for optimizer in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        for optimizer, saved in zip(self.optimizers, state["optimizers"], strict=True):
            optimizer.load_state_dict(saved)


def default_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with the config's settings; weight decay only on parameters with >= 2 dims.

    As in nanoGPT, matrices (linear and embedding weights) are decayed, while biases and
    normalisation gains are not: shrinking them toward zero does not regularise anything.
    Where torch has one (CUDA, and the CPU since torch 2.4), the fused AdamW kernel runs:
    one kernel per parameter instead of about ten small operations each, the same update up
    to rounding.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    # None, not False, elsewhere: torch then picks its default (False would also turn off foreach).
    fused = True if _has_fused_adamw(params) else None
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, fused=fused)


def _has_fused_adamw(params: list[torch.Tensor]) -> bool:
    """True for floating-point parameters all on CUDA, or all on the CPU with torch >= 2.4."""
    devices = {p.device.type for p in params}
    if len(devices) != 1 or not all(p.is_floating_point() for p in params):
        return False
    major, minor = (int(part) for part in torch.__version__.split(".")[:2])
    return devices == {"cuda"} or (devices == {"cpu"} and (major, minor) >= (2, 4))


def train(
    model: torch.nn.Module,
    loss_fn: LossFn,
    batches: Iterable | Callable[[], Any],
    config: TrainConfig,
    eval_fn: Callable[[torch.nn.Module], Mapping[str, float]] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    resume: bool = False,
    after_step: Callable[[torch.nn.Module], None] | None = None,
) -> History:
    """Train ``model`` for ``config.max_steps`` updates of ``loss_fn(model, batch)``, or until
    ``config.max_minutes`` have passed, or for ``config.budget_minutes`` (re-planning the steps).

    ``batches`` is a re-iterable (a DataLoader or a list, cycled epoch after epoch) or a
    zero-argument function that returns a batch. Batches are moved to the model's device.
    ``eval_fn(model) -> {name: value}`` runs in eval mode without gradients, and does not
    disturb the training's random numbers. With ``resume=True`` training continues from
    ``config.checkpoint_path`` when that file exists (so the same call starts and resumes);
    without it, an existing checkpoint file is overwritten.
    A fresh run seeds Python, NumPy and PyTorch with ``config.seed``. The learning rate of
    every parameter group is set by ``lr_at`` at each step, also for a given ``optimizer``.
    ``after_step(model)``, when given, runs after every optimizer step (e.g. a max-norm
    constraint on some weights).
    Under ``torchrun`` the same call trains data-parallel (``course_lib.distributed``): each
    process takes its slice of every batch, gradients are averaged, only rank 0 shows progress,
    evaluates and checkpoints (``History.evals`` is empty elsewhere); the losses recorded are
    those of the whole batch.
    """
    device = _device_of(model)
    ctx = distributed.context(device)  # one process, or one of torchrun's
    optimizer = optimizer if optimizer is not None else default_optimizer(model, config)
    stream = batch_stream(batches)
    history, start = History(), 0
    if resume and _checkpoint_exists(config):
        fields, start = restore_checkpoint(config.checkpoint_path, model, optimizer, stream)
        history = History(**fields)
    else:
        seed_everything(config.seed)
        history.plan = list(config.plan)
    if config.budget_minutes is not None and not history.plan:
        history.plan = [(0, config.max_steps)]  # the first plan
    seconds_before, started = history.seconds, time.perf_counter()
    minutes = config.budget_minutes or config.max_minutes
    if minutes is not None and seconds_before >= 60 * minutes:
        return history  # a resumed run that had already used up its time
    overhead_every = [every for every, used in ((config.eval_every, eval_fn is not None),
                                                (config.checkpoint_every, config.checkpoint_path is not None))
                      if used and every is not None]
    planner = BudgetPlanner(60 * minutes, seconds_before, overhead_every) if config.budget_minutes else None
    step, total = start, history.plan[-1][1] if planner else config.max_steps
    model.train()
    wrapped = distributed.wrap(model, ctx)  # averages gradients over processes
    bar = tqdm(initial=start, total=total, desc="train",
               disable=_progress_disabled(config) or not ctx.is_main)
    while step < total:
        step, update_started = step + 1, time.perf_counter()
        lr = lr_at(step, config, history.plan)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = _to_device(distributed.shard(next(stream), ctx), device)
        with autocast(device, enabled=config.amp, cpu=config.cpu_amp):
            loss = loss_fn(wrapped, batch)
        value = distributed.mean(_checked_loss(loss, step), ctx)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        if after_step is not None:
            after_step(model)
        history.steps.append(step)
        history.train_loss.append(value)
        history.lr.append(lr)
        now = time.perf_counter()
        planned = total
        if planner is not None:  # time the update; re-plan the run's length when one is due
            planner.record_update(now - update_started)
            planned = planner.replan(step, total, seconds_before + now - started)
        out_of_time = minutes is not None and seconds_before + now - started >= 60 * minutes
        if minutes is not None:  # under torchrun, rank 0's clock decides for every process
            planned, out_of_time = distributed.agree((planned, out_of_time), ctx)
        if planned != total:
            total = bar.total = planned
            history.plan.append((step, total))
        last = step == total or out_of_time
        evaluate = eval_fn is not None and ctx.is_main and _is_due(step, config.eval_every, last)
        checkpoint = (config.checkpoint_path is not None and ctx.is_main
                      and _is_due(step, config.checkpoint_every, last))
        if evaluate:
            history.evals[step] = _run_eval(eval_fn, model)
        if checkpoint:
            history.seconds = seconds_before + time.perf_counter() - started
            write_checkpoint(config.checkpoint_path, model, optimizer, step, history, config, stream)
        if planner is not None and (evaluate or checkpoint):
            planner.record_overhead(time.perf_counter() - now)
        bar.update(1)
        if step % config.log_every == 0:
            bar.set_postfix(loss=f"{np.mean(history.train_loss[-config.log_every:]):.3f}")
        if out_of_time:
            break
    bar.close()
    history.seconds = seconds_before + time.perf_counter() - started
    return history


def steps_within(
    minutes: float,
    model: torch.nn.Module,
    loss_fn: LossFn,
    batches: Iterable,
    probe: int = 4,
    amp: bool = True,
    cpu_amp: bool = False,
) -> tuple[int, float]:
    """How many updates fit in ``minutes``: ``(steps, seconds per step)``, a first plan.

    Times ``probe`` updates of a throwaway copy of ``model`` on the first batches (after one
    warm-up update), so the model itself is not changed; an update is what ``train`` does by
    default (fused AdamW, gradient clipping). The seconds per step are the mean of the timed
    updates: batches of different lengths take different times, and a run lasts their sum. A
    few updates are a rough guide to a long run (a busy machine can make them twice too slow):
    pass the steps as ``max_steps`` with ``TrainConfig(budget_minutes=minutes)``, which re-plans
    as it trains. ``amp``, ``cpu_amp``: the run's values (bfloat16 changes the step time).
    """
    if minutes <= 0 or probe < 1:
        raise ValueError(f"minutes must be > 0 and probe >= 1, got {minutes}, {probe}")
    trial = copy.deepcopy(model)
    device = _device_of(trial)
    optimizer = default_optimizer(trial, TrainConfig(max_steps=1))  # what train() uses by default
    batches = [_to_device(batch, device) for batch, _ in zip(batches, range(probe + 1), strict=False)]
    if len(batches) < probe + 1:
        raise ValueError(f"steps_within needs {probe + 1} batches to time, got {len(batches)}")
    step_seconds = []
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        optimizer.zero_grad()
        with autocast(device, enabled=amp, cpu=cpu_amp):
            loss = loss_fn(trial, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trial.parameters(), 1.0)
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # the GPU works asynchronously: wait for this update
        if i > 0:  # the first update warms up; time the others
            step_seconds.append(time.perf_counter() - start)
    seconds = statistics.fmean(step_seconds)
    # Under torchrun every process times its own probe: all follow rank 0's plan.
    seconds = distributed.agree(seconds, distributed.context(device))
    return max(1, int(minutes * 60 / seconds)), seconds


def planned_config(model: torch.nn.Module, loss_fn: LossFn, batches: Iterable, *,
                   minutes: float | None = None, steps: int | None = None, probe: int = 8,
                   evaluations: int | None = None, **settings: Any) -> TrainConfig:
    """The ``TrainConfig`` of a run of ``minutes`` (a budget) or of ``steps`` updates, planned
    the way chapter 05 teaches.

    With ``minutes``, ``steps_within`` times ``probe`` updates of a copy of ``model`` on the
    first ``batches`` (before the budget starts) for a first plan, and
    ``budget_minutes=minutes`` re-plans the run's length as it goes. Either way the warm-up is
    cut to at most a tenth of the first plan (``settings["plan"][0]`` for a replayed budgeted
    run) and ``evaluations``, when given, are spaced evenly over it. ``settings``: the other
    ``TrainConfig`` fields (a recipe's ``optimisation.kwargs()``, ``seed``, ``progress``...).
    """
    if (minutes is None) == (steps is None):
        raise ValueError(f"give minutes (a budget) or steps (a fixed run), not both or neither; "
                         f"got minutes={minutes}, steps={steps}")
    if minutes is not None:
        steps, _ = steps_within(minutes, model, loss_fn, batches, probe=probe,
                                cpu_amp=settings.get("cpu_amp", False))
    plan = settings.get("plan", ())
    first_plan = plan[0][1] if plan else steps
    settings["warmup_steps"] = min(settings.get("warmup_steps", 0), max(first_plan // 10, 1))
    if evaluations:
        settings["eval_every"] = max(1, first_plan // evaluations)
    return TrainConfig(max_steps=steps, budget_minutes=minutes, **settings)


@torch.no_grad()
def evaluate_loss(
    model: torch.nn.Module,
    loss_fn: LossFn,
    batches: Iterable | Callable[[], Any],
    max_batches: int | None = None,
    amp: bool = True,
) -> float:
    """The mean of ``loss_fn`` over ``batches`` (at most ``max_batches``), without gradients.

    The model runs in eval mode and gets its previous mode back. A function as ``batches``
    needs ``max_batches``. Each batch counts equally, whatever its size.
    """
    if callable(batches):
        if max_batches is None:
            raise ValueError("evaluate_loss with a batch function needs max_batches")
        make_batch = batches
        batches = (make_batch() for _ in range(max_batches))
    device, was_training = _device_of(model), model.training
    model.eval()
    losses = []
    try:
        for batch in batches:
            if max_batches is not None and len(losses) >= max_batches:
                break
            with autocast(device, enabled=amp):
                losses.append(_checked_loss(loss_fn(model, _to_device(batch, device)), None))
    finally:
        model.train(was_training)
    if not losses:
        raise ValueError("evaluate_loss got no batches: pass a non-empty loader or list")
    return float(np.mean(losses))


def load_checkpoint(
    path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> History:
    """Load a checkpoint written by ``train`` into ``model`` (and ``optimizer``); its History."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    return History(**checkpoint["history"])


# --- Helpers: devices, losses, evaluation ------------------------------------------------


def _device_of(model: torch.nn.Module) -> torch.device:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(
            f"{type(model).__name__} has no trainable parameters: nothing to train "
            "(did you forget to register layers as attributes, or freeze them all?)"
        )
    return params[0].device


def _to_device(batch: Any, device: torch.device) -> Any:
    """Move a Batch, a tensor, or a tuple/list/dict of them; leave anything else alone."""
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(item, device) for item in batch)
    if isinstance(batch, dict):
        return {key: _to_device(value, device) for key, value in batch.items()}
    return batch.to(device) if hasattr(batch, "to") else batch


def _checked_loss(loss: Any, step: int | None) -> float:
    where = f" at step {step}" if step is not None else ""
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"loss_fn must return a torch.Tensor, got {type(loss).__name__}")
    if loss.dim() != 0:
        raise ValueError(
            f"loss_fn must return a scalar loss, got shape {tuple(loss.shape)}{where}; "
            "average it (e.g. F.cross_entropy with the default reduction='mean')"
        )
    value = loss.item()
    if not math.isfinite(value):
        raise FloatingPointError(
            f"The loss is {value}{where}; lower lr, or enable grad_clip (e.g. 1.0)"
        )
    return value


def _run_eval(eval_fn: Callable, model: torch.nn.Module) -> dict[str, float]:
    """Evaluate in eval mode, without gradients, leaving the training's RNG streams untouched."""
    was_training, saved = model.training, rng_state([])
    model.eval()
    try:
        with torch.no_grad():
            metrics = eval_fn(model)
    finally:
        model.train(was_training)
        set_rng_state(saved, [])
    if not isinstance(metrics, Mapping):
        raise TypeError(f"eval_fn must return a dict of metrics, got {type(metrics).__name__}")
    return {str(name): float(value) for name, value in metrics.items()}


def _is_due(step: int, every: int | None, last: bool) -> bool:
    return last or (every is not None and step % every == 0)


def _progress_disabled(config: TrainConfig) -> bool:
    # tqdm reads TQDM_DISABLE once, at import time; read it at every call instead.
    return not config.progress or os.environ.get("TQDM_DISABLE", "").lower() in {"1", "true", "yes"}


def _checkpoint_exists(config: TrainConfig) -> bool:
    if config.checkpoint_path is None:
        raise ValueError("resume=True needs config.checkpoint_path")
    return Path(config.checkpoint_path).exists()
