"""What a training run is told and what it records: ``TrainConfig`` and ``History``.

Used by ``course_lib.training.train`` (which re-exports both) and saved in its checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.budget import check_plan


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run.

    The learning rate rises linearly to ``lr`` over ``warmup_steps``, then stays at ``lr``
    or, when ``min_lr`` is set, follows a cosine down to ``min_lr`` at ``max_steps``.
    ``grad_clip=None`` turns clipping off. Evaluation runs every ``eval_every`` steps and
    after the last one; a checkpoint is written every ``checkpoint_every`` steps and after the
    last one (when ``checkpoint_path`` is set). ``log_every`` only sets how often the progress
    bar shows the mean recent loss. ``amp`` enables bfloat16 autocast on CUDA; ``cpu_amp``
    on the CPU too, where it has native bfloat16 (``device.autocast``; off by default, so
    CPU runs are exact float32).
    ``budget_minutes`` trains to a wall-clock budget (evaluations and checkpoints count):
    ``max_steps`` is only the first plan (``steps_within``); the run re-plans its length as it
    goes (``course_lib.budget``) and ends, decay finished, when the budget is spent. Its plans
    are in ``History.plan``: ``max_steps=history.steps[-1], plan=tuple(history.plan)`` replays
    it exactly. ``max_minutes`` is a plain limit: training stops after the first step that ends
    past it (resumed runs' time counts), then evaluates and checkpoints as after a last step.
    """

    max_steps: int
    max_minutes: float | None = None
    budget_minutes: float | None = None
    plan: tuple[tuple[int, int], ...] = ()
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0
    min_lr: float | None = None
    grad_clip: float | None = 1.0
    eval_every: int | None = None
    log_every: int = 10
    checkpoint_path: str | Path | None = None
    checkpoint_every: int | None = None
    seed: int = 0
    amp: bool = True
    cpu_amp: bool = False
    progress: bool = True

    def __post_init__(self):
        if not isinstance(self.max_steps, int) or self.max_steps < 1:
            raise ValueError(f"max_steps must be an int >= 1, got {self.max_steps!r}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be > 0 (or None for no time limit), got {self.max_minutes}")
        if self.budget_minutes is not None and not (self.budget_minutes > 0 and self.max_minutes is None
                                                    and not self.plan):
            raise ValueError(f"budget_minutes must be > 0, without max_minutes or plan (the budget makes "
                             f"the plan and stops the run), got {self.budget_minutes}")
        check_plan(self.plan)
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.min_lr is not None and not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"min_lr must lie in [0, lr={self.lr}], got {self.min_lr}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be > 0 (or None for no clipping), got {self.grad_clip}")
        for name in ("eval_every", "log_every", "checkpoint_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 (or None), got {value}")
        if self.checkpoint_every is not None and self.checkpoint_path is None:
            raise ValueError("checkpoint_every is set but checkpoint_path is not: set both")


@dataclass
class History:
    """What a run recorded: the training loss and learning rate of every step, evaluations.

    ``evals`` maps a step to the metrics ``eval_fn`` returned after it. ``plan`` holds the
    ``(after_step, total)`` plans of a budgeted run (empty for a fixed number of steps).
    ``seconds`` is the wall time spent training (summed over resumed runs); two histories
    compare equal when everything but the wall time is equal.
    """

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    evals: dict[int, dict[str, float]] = field(default_factory=dict)
    plan: list[tuple[int, int]] = field(default_factory=list)
    seconds: float = field(default=0.0, compare=False)

    def metric(self, name: str) -> tuple[list[int], list[float]]:
        """``(steps, values)`` of ``"train_loss"`` or of one of the evaluation metrics."""
        if name == "train_loss":
            return list(self.steps), list(self.train_loss)
        steps = [step for step, metrics in self.evals.items() if name in metrics]
        if not steps:
            known = sorted({"train_loss"}.union(*self.evals.values()))
            raise KeyError(f"No metric {name!r} in this history; it has {known}")
        return steps, [self.evals[step][name] for step in steps]

    def last(self, name: str) -> float:
        """The most recent value of a metric."""
        return self.metric(name)[1][-1]

    def best(self, name: str, higher_is_better: bool = False) -> float:
        """The lowest value of a metric (the highest with ``higher_is_better=True``)."""
        values = self.metric(name)[1]
        return max(values) if higher_is_better else min(values)

    def curves(self, metrics: Iterable[str] | None = None) -> dict[str, tuple[list[int], list[float]]]:
        """The training loss and the given eval metrics (default: those ending in ``loss``)."""
        if metrics is None:
            names = {name for values in self.evals.values() for name in values}
            metrics = sorted(name for name in names if name.endswith("loss"))
        return {name: self.metric(name) for name in ["train_loss", *metrics]}

    def plot(self, ax=None, metrics: Iterable[str] | None = None, log_y: bool = False):
        """Plot the curves against the step with ``plotting.plot_losses``; returns the Axes."""
        from course_lib.plotting import plot_losses

        return plot_losses(self.curves(metrics), ax=ax, log_y=log_y)
