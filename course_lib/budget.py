"""The learning-rate schedule, and training to a wall-clock budget with a plan that keeps measuring.

``lr_at`` is the schedule of every run of ``training.train``: a linear warm-up, then a constant
rate or a cosine decay to ``min_lr`` over the run's planned length.

``training.steps_within`` times a few updates and plans a number of steps; one probe is a
poor guide to a long run (a probe taken while the machine is busy can be twice too slow).
``train`` with ``TrainConfig(budget_minutes=...)`` therefore treats ``max_steps`` as a first
plan only: a ``BudgetPlanner`` times every update, and when 5%, 15%, 40%, 70% and 90% of the
budget are spent (or of the planned steps done, if that comes first) it re-estimates how many
updates still fit, from the updates since its last estimate. The learning-rate schedule follows the plan through ``decay_progress``: at a re-plan
the decay keeps the point it has reached and spreads the rest of its way over the new number
of remaining steps, so the learning rate never jumps and the decay ends when the budget does.

The re-plans are recorded (``History.plan``), so a budgeted run can be replayed exactly, with no
clock: ``TrainConfig(max_steps=history.steps[-1], plan=tuple(history.plan))``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from course_lib.training import TrainConfig

# Re-plan when these fractions of the budget are spent: early and often at first (a bad probe
# is corrected within seconds), late enough at the end to catch a machine that changed pace.
REPLAN_AT = (0.05, 0.15, 0.4, 0.7, 0.9)
# The first updates after a (re)start allocate memory and warm caches: they are not timed.
SKIPPED_UPDATES = 2
# An update slower than this many times the median is a stall (another job took the CPU, memory
# was swapped in): its time is spent, but it says nothing about the updates to come.
STALL_FACTOR = 10.0


def lr_at(step: int, config: TrainConfig, plan: list[tuple[int, int]] | None = None) -> float:
    """The learning rate of update number ``step`` (1 to ``max_steps``): warm-up, then decay.

    The decay runs to ``max_steps``, or follows ``plan`` (default ``config.plan``), the plans
    of a budgeted run (``budget.decay_progress``).
    """
    plan = config.plan if plan is None else plan
    if step <= config.warmup_steps:
        return config.lr * step / config.warmup_steps
    if config.min_lr is None:
        return config.lr
    if plan:
        progress = decay_progress(step, config.warmup_steps, plan)
    else:
        progress = min(1.0, (step - config.warmup_steps) / (config.max_steps - config.warmup_steps))
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * progress))


def decay_progress(step: int, warmup_steps: int, plan: Sequence[tuple[int, int]]) -> float:
    """How far the decay after warm-up has gone at update ``step``: 0 at the end of warm-up, 1
    at the end of the run.

    ``plan`` lists ``(after_step, total)``: after update ``after_step`` the run was planned to
    last ``total`` updates; the first entry is ``(0, first plan)``. Within one plan the progress
    grows linearly; at a re-plan it keeps its value, and the new plan stretches or shrinks the rest
    of the way to 1 over the remaining steps. With one entry ``(0, N)`` this is the usual
    ``(step - warmup_steps) / (N - warmup_steps)``.
    """
    progress = 0.0
    for i, (after_step, total) in enumerate(plan):
        begin = max(after_step, warmup_steps)  # the decay starts after warm-up
        end = plan[i + 1][0] if i + 1 < len(plan) else None
        if end is None or step <= end:
            return min(1.0, progress + (1 - progress) * max(0, step - begin) / max(1, total - begin))
        progress += (1 - progress) * max(0, end - begin) / max(1, total - begin)
    raise ValueError("plan is empty: it needs at least the first plan, (0, total)")


def check_plan(plan: Sequence[tuple[int, int]]) -> None:
    """Refuse a ``plan`` that no budgeted run could have recorded (see ``decay_progress``)."""
    steps = [after_step for after_step, _ in plan]
    if plan and (steps[0] != 0 or steps != sorted(set(steps)) or any(t <= s for s, t in plan)):
        raise ValueError(f"plan must be a budgeted run's History.plan: (after_step, total) pairs from "
                         f"(0, first plan) on, after_step increasing, total > after_step; got {plan}")


class BudgetPlanner:
    """Times the updates of a budgeted run and says when, and to how many steps, to re-plan.

    The estimate is the **mean** seconds per update since the previous re-plan, leaving out
    stalls (updates over ``STALL_FACTOR`` times the median). Not the median itself: updates on
    batches of different lengths take different times and a run lasts their sum, which the
    median underestimates. Evaluations and checkpoints are timed apart (``record_overhead``):
    the plan counts the ones still to come (every ``overhead_every`` steps, and after the last)
    at their mean cost so far.
    """

    def __init__(self, budget_seconds: float, elapsed_seconds: float = 0.0,
                 overhead_every: Sequence[int] = ()):
        if not budget_seconds > 0:
            raise ValueError(f"budget_seconds must be > 0, got {budget_seconds}")
        self.budget_seconds, self.overhead_every = budget_seconds, tuple(overhead_every)
        self.pending = [f for f in REPLAN_AT if f * budget_seconds > elapsed_seconds]
        self.window: list[float] = []  # seconds of each update timed since the last re-plan
        self.updates, self.last_update, self.overhead_seconds, self.overheads = 0, 0.0, 0.0, 0

    def record_update(self, seconds: float) -> None:
        self.updates += 1
        self.last_update = seconds
        if self.updates > SKIPPED_UPDATES:
            self.window.append(seconds)

    def record_overhead(self, seconds: float) -> None:
        """Time spent on an evaluation and/or a checkpoint after an update."""
        self.overhead_seconds += seconds
        self.overheads += 1

    def seconds_per_update(self) -> float:
        """Mean seconds of the updates timed since the last re-plan, stalls left out."""
        if not self.window:
            return self.last_update  # only at the end of a plan too short to time anything
        median = statistics.median(self.window)
        return statistics.fmean(seconds for seconds in self.window if seconds <= STALL_FACTOR * median)

    def replan(self, step: int, total: int, elapsed_seconds: float) -> int:
        """The planned number of updates after update ``step`` with ``elapsed_seconds`` spent.

        ``total`` unchanged, or a new estimate when a re-plan point has passed (a fraction of the
        budget spent, or of the planned steps done, whichever comes first) and at least two
        updates were timed since the last one. At the end of the plan, time left over for more
        updates extends it (the decay has ended: they run at the final learning rate).
        """
        passed = [f for f in self.pending if elapsed_seconds >= f * self.budget_seconds or step >= f * total]
        if not (passed and len(self.window) >= 2) and step < total:
            return total
        self.pending = [f for f in self.pending if f not in passed]
        per_update = max(self.seconds_per_update(), 1e-9)  # a coarse clock can time an update as 0
        per_overhead = self.overhead_seconds / max(1, self.overheads)
        left = self.budget_seconds - elapsed_seconds - per_overhead  # the last step's evaluation
        fewer, more = 0, int(left / per_update)  # the most steps that fit, by bisection
        while fewer < more:
            steps = (fewer + more + 1) // 2
            if steps * per_update + per_overhead * self._due(step, step + steps - 1) <= left:
                fewer = steps
            else:
                more = steps - 1
        steps, self.window = fewer, []
        return step + max(0 if step >= total else 1, steps)

    def _due(self, first: int, last: int) -> int:
        """How many steps in (first, last] are multiples of an ``overhead_every`` period."""
        def multiples(every: int) -> int:
            return last // every - first // every

        periods = sorted(set(self.overhead_every))
        if len(periods) > 2:
            raise ValueError("BudgetPlanner counts at most two overhead periods")
        if len(periods) < 2:
            return sum(multiples(every) for every in periods)
        return multiples(periods[0]) + multiples(periods[1]) - multiples(math.lcm(*periods))
