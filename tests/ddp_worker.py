"""A small run of training.train for the data-parallel tests, alone or under torchrun:

    python ddp_worker.py OUT STEPS [--checkpoint PATH [--stop-after K]] [--fail-at-step N]

STEPS is the schedule's length; with --stop-after the run dies after step K's checkpoint (an
interruption), and with --checkpoint it resumes from one. Rank 0 saves the final weights and
the History to OUT."""

import argparse
import sys

import torch
from torch import nn

from course_lib import distributed
from course_lib.training import TrainConfig, train


def data(batch_size: int = 12, count: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(batch_size, 5, generator=generator),
             torch.randint(0, 3, (batch_size,), generator=generator)) for _ in range(count)]


def loss_fn(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y)  # a mean over the batch's examples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("steps", type=int)
    parser.add_argument("--checkpoint")
    parser.add_argument("--stop-after", type=int)
    parser.add_argument("--fail-at-step", type=int)
    parser.add_argument("--budget-minutes", type=float)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    config = TrainConfig(max_steps=args.steps, lr=3e-2, warmup_steps=2, min_lr=1e-3,
                         grad_clip=1.0, weight_decay=0.1, progress=False,
                         budget_minutes=args.budget_minutes,
                         checkpoint_path=args.checkpoint,
                         checkpoint_every=1 if args.checkpoint else None)
    ctx = distributed.context()
    done: list[int] = []

    def after_step(model):
        done.append(1)
        if ctx.rank == 1 and len(done) == args.fail_at_step:
            raise RuntimeError("rank 1 failed on purpose")
        if args.stop_after is not None and len(done) == args.stop_after + 1:
            raise SystemExit(0)  # dies before this step's checkpoint: step K's is the last

    history = train(model, loss_fn, data(), config, resume=args.checkpoint is not None,
                    after_step=after_step, eval_fn=lambda m: {"weight_sum": float(
                        sum(p.sum() for p in m.parameters()))})
    if ctx.is_main:
        torch.save({"model": model.state_dict(), "loss": history.train_loss, "plan": history.plan,
                    "evals": history.evals, "world_size": ctx.world_size}, args.out)


if __name__ == "__main__":
    sys.exit(main())
