"""Does a budgeted run use its budget? The Multi30k attention recipe, trained twice to a budget.

The recipe of chapter 08 (``course_lib.recipes.MULTI30K_RECIPES["attention"]``), set up as
``benchmarks/multi30k_bleu.py`` trains it (validation every tenth of the first plan), trained
for ``--minutes`` (3) twice: once on the machine as it is, and once with a competing CPU load,
one busy process per core, that this script starts just before the probe and stops
``--load-seconds`` (30) later, so the probe and the first updates run on a busy machine and
the rest on a quiet one. Each run prints the probe's seconds per step and first plan, the plans
``train`` made while training (``History.plan``), the steps taken, its time (evaluations
included) as a share of the budget, and whether the decay finished (the last step's learning
rate is ``min_lr``: the clock did not cut the run off in the middle of its decay).

    COURSE_DATA_DIR=/work/shared/data python benchmarks/budget_use.py

Targets (issue 24): both runs use 95-102% of the budget and finish their schedule. The exit
status is 1 when a target is missed. On a machine shared with other jobs the "quiet" run is
not quiet: the script prints the load average before each run. There, ``--threads 1`` is the
fair setting: two torch threads fighting other jobs for two cores took 8-21 s per update of
this recipe where one thread took 3-4 s, and a budget of a few dozen updates cannot be met to
within 2% (one update and one validation are then several percent of it).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

import torch

from course_lib.data import make_loader
from course_lib.device import get_device, seed_everything
from course_lib.models.seq2seq import AttentionSeq2Seq, seq2seq_loss
from course_lib.recipes import MULTI30K_RECIPES
from course_lib.training import History, TrainConfig, evaluate_loss, steps_within, train
from course_lib.translation import load_multi30k_translation


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="training budget of each run (default 3)")
    parser.add_argument("--load-seconds", type=float, default=30.0,
                        help="how long the competing load runs, from just before the probe (default 30)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    return parser.parse_args()


def busy_until(deadline: float) -> None:
    """Keep one core busy until ``deadline`` (time.monotonic), then return."""
    while time.monotonic() < deadline:
        pass


class CompetingLoad:
    """One busy process per core for ``seconds``; stopped at the latest when the block exits."""

    def __init__(self, seconds: float):
        self.seconds, self.processes = seconds, []

    def __enter__(self) -> CompetingLoad:
        deadline = time.monotonic() + self.seconds
        context = multiprocessing.get_context("fork")  # the child only loops: no torch in it
        count = os.cpu_count() or 1 if self.seconds > 0 else 0
        self.processes = [context.Process(target=busy_until, args=(deadline,), daemon=True)
                          for _ in range(count)]
        for process in self.processes:
            process.start()
        return self

    def __exit__(self, *exc_info) -> None:
        for process in self.processes:
            process.terminate()
            process.join()


def budgeted_run(data, minutes: float, load_seconds: float) -> tuple[History, float, int, float]:
    """Probe and train the attention recipe for ``minutes``, with a competing load during the
    first ``load_seconds`` (0: none); History, probe seconds per step, first plan, min_lr."""
    recipe = MULTI30K_RECIPES["attention"]
    pad = data.tgt_vocab.pad_id
    train_pairs = data["train"]
    loader = make_loader(train_pairs, 128, pad_id=pad, lengths=[len(s) for s, _ in train_pairs])
    val_loader = make_loader(data["validation"], 128, pad_id=pad, shuffle=False,
                             lengths=[len(s) for s, _ in data["validation"]])
    seed_everything(0)
    model = AttentionSeq2Seq(len(data.src_vocab), len(data.tgt_vocab), pad_id=pad,
                             **recipe.sizes).to(get_device())
    with CompetingLoad(load_seconds):
        first_plan, step_seconds = steps_within(minutes, model, seq2seq_loss, loader, probe=8,
                                                cpu_amp=recipe.optimisation.cpu_amp)
        config = TrainConfig(max_steps=first_plan, budget_minutes=minutes, eval_every=max(1, first_plan // 10),
                             progress=False, **recipe.optimisation.kwargs())
        history = train(model, seq2seq_loss, loader, config,
                        eval_fn=lambda m: {"val_loss": evaluate_loss(m, seq2seq_loss, val_loader)})
    return history, step_seconds, first_plan, config.min_lr


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    data = load_multi30k_translation("de", "en")
    budget_s, met = 60 * args.minutes, True
    for name, load_seconds in [("machine as it is", 0.0),
                               (f"{os.cpu_count()} busy processes for the first {args.load_seconds:g} s",
                                args.load_seconds)]:
        print(f"{name}: load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
        history, step_seconds, first_plan, min_lr = budgeted_run(data, args.minutes, load_seconds)
        used = history.seconds / budget_s
        finished = abs(history.lr[-1] - min_lr) <= 1e-6 * min_lr
        met = met and 0.95 <= used <= 1.02 and finished
        print(f"  probe {step_seconds:.2f} s/step -> first plan {first_plan} steps; plans (after step, "
              f"total) {history.plan}\n  trained {history.steps[-1]} steps in {history.seconds:.1f} s = "
              f"{100 * used:.1f}% of the {budget_s:.0f}-s budget ({history.seconds / history.steps[-1]:.2f} "
              f"s/step, {len(history.evals)} validations included) | decay finished: "
              f"{'yes' if finished else 'NO'} (last lr {history.lr[-1]:.2e}, min_lr {min_lr:.0e}) | "
              f"validation loss {history.last('val_loss'):.3f}", flush=True)
    print(f"targets (95-102% of the budget, decay finished, both runs): {'met' if met else 'NOT met'}")
    raise SystemExit(0 if met else 1)


if __name__ == "__main__":
    main()
