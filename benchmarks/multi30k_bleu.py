"""Multi30k German -> English BLEU of the course's translation models, trained on a time budget.

Trains one of the chapters' full-mode recipes (``course_lib.recipes.MULTI30K_RECIPES``):
``seq2seq`` (chapter 07: GRU encoder-decoder, context fed to every step), ``attention``
(chapter 08: bidirectional GRU encoder, additive attention) or ``transformer`` (chapter 09),
for ``--minutes`` of training (as the chapters do: ``training.steps_within`` makes a first
plan, and ``TrainConfig(budget_minutes=...)`` re-plans the steps and the cosine schedule as
training goes, validations included, so the decay ends when the budget does) or for exactly
``--steps`` steps (no time limit), then prints sacrebleu corpus BLEU on the
1,000 sentences of test_2016_flickr (lower-cased, detokenised; see chapter 07 for how this
differs from published numbers), greedy and beam 5.

    COURSE_DATA_DIR=/work/shared/data python benchmarks/multi30k_bleu.py --model seq2seq

Targets (issues 8, 9): seq2seq >= 20, attention >= 28, transformer >= 33, each with at most
30 minutes of training on the course's 2-core CPU. A budgeted run prints its plans; on a
loaded machine it trains fewer steps than a quiet one would, and ``--steps`` fixes the count
instead (the printed seconds per step say what the budget would have bought). ``--steps`` with
``--plan`` (the printed plans) replays a budgeted run exactly: same steps, learning rates,
validations and weights (on the same CPU).
"""

from __future__ import annotations

import argparse
import ast
import time

import torch

from course_lib.corpora import load_multi30k
from course_lib.metrics import corpus_bleu, metric_signature
from course_lib.recipes import MULTI30K_RECIPES, train_multi30k
from course_lib.translation import translate


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MULTI30K_RECIPES), required=True)
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget (default 30)")
    parser.add_argument("--steps", type=int, help="train exactly this many steps instead")
    parser.add_argument("--plan", type=ast.literal_eval, default=(),
                        help='with --steps: the plans a budgeted run printed, e.g. "[(0, 120), (6, 117)]"')
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--save", help="save the trained weights to this path")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.plan and not args.steps:
        raise SystemExit("--plan replays a budgeted run: give its steps too (--steps)")
    model, history, data = train_multi30k(args.model, args.minutes, args.steps, args.plan,
                                          log=lambda line: print(line, flush=True))
    src_vocab, tgt_vocab = data.src_vocab, data.tgt_vocab
    for step, loss in zip(*history.metric("val_loss"), strict=True):
        print(f"  step {step:5d}: validation loss {loss:.3f}", flush=True)
    trained = history.steps[-1]
    print(f"trained {trained} steps in {history.seconds / 60:.1f} min, validations included "
          f"({history.seconds / trained:.2f} s/step on average); plans (after step, total): {history.plan}")
    if args.save:
        torch.save(model.state_dict(), args.save)
    references = [line.lower() for line in load_multi30k()["test"]["en"]]
    model.eval()
    for beam_size, alpha in [(1, 0.0), (5, 0.6), (5, 1.0)]:
        start = time.perf_counter()
        hypotheses = translate(model, data["test"], src_vocab, tgt_vocab, beam_size, alpha)
        print(f"test BLEU, beam {beam_size} alpha {alpha}: {corpus_bleu(hypotheses, references):.2f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    print(metric_signature())


if __name__ == "__main__":
    main()
