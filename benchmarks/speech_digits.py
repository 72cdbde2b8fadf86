"""Spoken digits on FSDD: isolated-digit accuracy and connected-digit error rate (chapter 12).

Trains, on this machine's CPU, with the recipes of ``course_lib.asr`` (the same code chapter
12 calls): a ``DigitClassifier`` (bidirectional GRU over log-mel frames, averaged over time)
and a ``CTCRecognizer`` (the same encoder, one distribution over blank + 10 digits per 40 ms,
trained with CTC on fresh connected utterances of 2-7 recordings of one speaker joined by
0.05-0.3 s of faint noise). Each is trained and tested twice: on the official split (takes
0-4 of every speaker and digit are the test set: the test speakers were heard in training,
other takes) and on a held-out-speaker split (every take of ``--speaker`` is the test set,
the five other speakers train: a voice never heard). Connected test sets are 500 utterances
drawn with a fixed seed from the test recordings; the digit error rate is edit distance over
digits said, decoded greedily and by prefix beam search (width 8).

Targets (issue 20): isolated accuracy >= 97% on the official split; connected digit error
rate <= 5% on the official split, trained in <= 10 minutes on 2 CPU cores.

    COURSE_DATA_DIR=/work/shared/data python benchmarks/speech_digits.py [--threads 1]

A full run (not ``--quick``) appends the official-split figures to the results record
(``course_lib.results``; the held-out speaker's in the note) as chapter 12's rows, from which
``course results table --readme`` writes the README's table.

Budgets are wall-clock (``TrainConfig(budget_minutes=...)``): on a loaded machine the models
get fewer steps in the same minutes, so figures measured under load are lower bounds.
``--quick`` runs the same pipeline with budgets of seconds (a smoke test).
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from course_lib import asr, results, speech

ISOLATED_ROW = ("bidirectional GRU, 2 × 128 over 40 ms log-mel steps, averaged over time",
                "FSDD isolated digits, official split (takes 0–4 test)")
CONNECTED_ROW = ("the same encoder + CTC, greedy / prefix beam 8",
                 "FSDD connected digits (2–7 recordings of one speaker), official split, 500 test utterances")


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def connected(train_set, test_set, minutes: float, label: str) -> dict[str, float]:
    started = time.perf_counter()
    model, history = asr.train_recognizer(train_set, minutes=minutes, progress=False)
    seconds = time.perf_counter() - started
    utterances = asr.connected_test_set(test_set, count=500)
    greedy = asr.digit_error_rate(model, utterances)
    beam = asr.digit_error_rate(model, utterances, beam_width=8)
    digits = sum(len(d) for _, d in utterances)
    print(f"connected {label:<22} DER greedy {100 * greedy:5.2f}%  beam-8 {100 * beam:5.2f}%  "
          f"({len(utterances)} utterances, {digits} digits; {history.steps[-1]} steps "
          f"in {seconds / 60:.1f} min; {load()})", flush=True)
    return {"greedy": greedy, "beam": beam, "minutes": seconds / 60, "steps": history.steps[-1]}


def isolated(train_set, test_set, minutes: float, label: str) -> dict[str, float]:
    started = time.perf_counter()
    model, history = asr.train_classifier(train_set, minutes=minutes, progress=False)
    seconds = time.perf_counter() - started
    accuracy = asr.accuracy(model, test_set)
    print(f"isolated  {label:<22} accuracy {100 * accuracy:5.2f}%  ({len(test_set)} recordings; "
          f"{history.steps[-1]} steps in {seconds / 60:.1f} min; {load()})", flush=True)
    return {"accuracy": accuracy, "minutes": seconds / 60, "steps": history.steps[-1], "count": len(test_set)}


def record(args, iso: dict, iso_held: dict, con: dict, con_held: dict) -> None:
    """The official-split figures as chapter 12's rows of the results record."""
    where = {"chapter": "12", "settings": {"benchmark": "benchmarks/speech_digits.py", "threads": torch.get_num_threads()}}
    results.record(*ISOLATED_ROW, "test", "% accuracy", 100 * iso["accuracy"], **where,
                   train_seconds=60 * iso["minutes"],
                   note=f"{iso['count']} recordings; {iso['steps']:,} steps, budget {args.isolated_minutes:g} min"
                        f"; held-out speaker {args.speaker}: {100 * iso_held['accuracy']:.2f}%")
    note = (f"{con['steps']:,} steps, budget {args.connected_minutes:g} min; held-out "
            f"speaker {args.speaker}: {100 * con_held['greedy']:.2f}% / {100 * con_held['beam']:.2f}% "
            f"({con_held['steps']:,} steps)")
    for decoding, how in (("greedy", "greedy"), ("beam", "prefix beam 8")):
        results.record(*CONNECTED_ROW, "test", f"% digit error rate, {how}", 100 * con[decoding], **where,
                       train_seconds=60 * con["minutes"], note=note)
    print(f"recorded in {results.record_path()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--isolated-minutes", type=float, default=asr.ISOLATED_RECIPE.budget_minutes)
    parser.add_argument("--connected-minutes", type=float, default=asr.CONNECTED_RECIPE.budget_minutes)
    parser.add_argument("--speaker", default="theo", help="the held-out speaker")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="budgets of seconds (smoke test)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.isolated_minutes, args.connected_minutes = 0.1, 0.2
    started = time.perf_counter()
    print(f"FSDD, torch {torch.__version__}, {torch.get_num_threads()} thread(s), {load()}", flush=True)
    recordings = speech.load_fsdd()
    official = speech.official_split(recordings)
    held_out = speech.held_out_speaker_split(recordings, args.speaker)
    iso = isolated(*official, args.isolated_minutes, "official split")
    iso_held = isolated(*held_out, args.isolated_minutes, f"held-out {args.speaker}")
    con = connected(*official, args.connected_minutes, "official split")
    con_held = connected(*held_out, args.connected_minutes, f"held-out {args.speaker}")
    if not args.quick:
        record(args, iso, iso_held, con, con_held)
    total = (time.perf_counter() - started) / 60
    print(f"time: {total:.1f} min in all ({load()})")
    best = min(con["greedy"], con["beam"])
    met = iso["accuracy"] >= 0.97 and best <= 0.05 and con["minutes"] <= 10
    print(f"targets: isolated >= 97% ({100 * iso['accuracy']:.2f}%), connected DER <= 5% "
          f"({100 * best:.2f}%) trained in <= 10 min ({con['minutes']:.1f} min): "
          f"{'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
