"""Chapter 14's leaderboard outside the notebook: every model of the course, scored one way.

Tiny Shakespeare characters (nats per character on the whole validation split and on its last
10%, the test split, every character scored once under one context rule; see
``course_lib.leaderboard``): n-grams with MLE, add-k, Kneser-Ney and modified Kneser-Ney
smoothing, and the neural recipes of ``course_lib.recipes`` (causal CNN, tanh RNN, LSTM, GRU,
GPT). Multi30k de->en (test_2016_flickr): the GRU encoder-decoder, the GRU with attention and
the Transformer, BLEU and chrF, greedy and beam 5. Each row also gives parameters, training
time, estimated training FLOPs (6 N D) and generation speed.

Neural models come from the chapters' checkpoints (``cache_dir()/checkpoints``, written by
chapters 04-09 in full mode) when present, else they are trained here with their recipe's own
budget. The targets line checks that the leaderboard reproduces each chapter's own figure for
the same checkpoint, with the chapter's own measure, exactly (to 1e-6 nats, 1e-9 BLEU).

``--race`` gives every neural model the same budget instead (``--minutes``, default 10 on
the CPU) and ignores the checkpoints: which model makes the best use of ten minutes?
``--quick`` is a smoke run (tiny models, seconds each, a part of the data); its figures mean
nothing and are not recorded. Other runs append their figures to the results record
(``course_lib.results``).

    COURSE_DATA_DIR=/work/shared/data python benchmarks/leaderboard.py --quick
    python benchmarks/leaderboard.py --race --minutes 10 --threads 1
"""

from __future__ import annotations

import argparse
import math
import os

import torch

from course_lib import leaderboard as lb
from course_lib.corpora import load_multi30k
from course_lib.device import describe, get_device
from course_lib.recipes import CHAR_LM_RECIPES, MULTI30K_RECIPES
from course_lib.translation import load_multi30k_translation

NGRAMS = [("mle", 1), ("add_k", 4), ("kneser_ney", 7), ("modified_kneser_ney", 7)]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny models and data")
    parser.add_argument("--race", action="store_true", help="every neural model the same budget")
    parser.add_argument("--minutes", type=float, default=10.0, help="with --race: the budget (default 10)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--skip-translation", action="store_true", help="characters only")
    return parser.parse_args()


def reproduced(checks: dict[str, dict], tolerance: float) -> tuple[list[str], list[str]]:
    """Names whose recomputed figure equals the chapter's within ``tolerance``, and the others."""
    same = [name for name, c in checks.items() if math.isclose(c["chapter"], c["recomputed"], abs_tol=tolerance)]
    return same, [name for name in checks if name not in same]


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = get_device()
    minutes = (0.05 if args.quick else args.minutes) if (args.race or args.quick) else None
    print(f"{describe(device)} | load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs | "
          + (f"every neural model trained here for {minutes:g} min" if minutes is not None
             else "the chapters' checkpoints, else their recipes' budgets"),
          flush=True)

    splits = lb.char_splits(20_000 if args.quick else None)
    rows = [lb.ngram_row(smoothing, order, splits, 200_000 if args.quick else None)[0]
            for smoothing, order in NGRAMS]
    checks = {}
    for name in CHAR_LM_RECIPES:
        row, _, check = lb.char_lm_row(name, splits, device, quick=args.quick, minutes=minutes)
        rows.append(row)
        print(lb.format_table([row]).splitlines()[1], flush=True)
        if check:
            checks[row.name] = check
    print(f"\nTiny Shakespeare characters: nats/char, validation ({len(splits.val_ids):,} characters) "
          f"and test (its last {len(splits.test_ids):,})\n{lb.format_table(rows)}")
    char_same, char_other = reproduced(checks, 1e-6)

    translation_rows, mt_checks = [], {}
    if not args.skip_translation:
        data = load_multi30k_translation("de", "en")
        count = 50 if args.quick else len(data["test"])
        pairs = data["test"][:count]
        references = [line.lower() for line in list(load_multi30k()["test"]["en"])[:count]]
        for name in MULTI30K_RECIPES:
            row, _, check = lb.translation_row(name, data, pairs, references, device, quick=args.quick,
                                               minutes=minutes, beam_size=3 if args.quick else 5)
            translation_rows.append(row)
            print(lb.format_table([row]).splitlines()[1], flush=True)
            if check:
                mt_checks[row.name] = check
        print(f"\nMulti30k de->en, test_2016_flickr ({count} sentences)\n{lb.format_table(translation_rows)}")
    mt_same, mt_other = reproduced(mt_checks, 1e-9)

    if not args.quick:
        lb.record_rows(rows, "Tiny Shakespeare chars", "benchmarks/leaderboard.py" + (" --race" if args.race else ""))
        lb.record_rows(translation_rows, "Multi30k de→en", "benchmarks/leaderboard.py" + (" --race" if args.race else ""))
        print("appended the figures to the results record (course results table)")
    compared = len(checks) + len(mt_checks)
    if compared == 0:
        verdict = ("no chapter checkpoint was used (quick mode, --race, or chapters 04-09 not run in full "
                   "mode): nothing to compare")
    else:
        verdict = (f"{len(char_same) + len(mt_same)}/{compared} chapter figures reproduced exactly"
                   + (f"; NOT: {', '.join(char_other + mt_other)}" if char_other or mt_other else ""))
    best = min(rows, key=lambda r: r.quality["validation"])
    print(f"targets: leaderboard reproduces each chapter's own figure for the same checkpoint: {verdict} | "
          f"best character model: {best.name}, {best.quality['validation']:.3f} nats/char (validation)"
          + (" | quick mode: smoke run only" if args.quick else ""))


if __name__ == "__main__":
    main()
