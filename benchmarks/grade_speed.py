"""What the sandbox costs: a class of 20 submissions graded with --jobs 2, with and without it.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/grade_speed.py [--repeats 2] [--submissions 20]

The class is chapter 00's exercise: half solved (full marks), half untouched (zero). Each run
is `course grade CLASS --exercise 00_setup_and_tour --jobs 2`, as an instructor runs it, in a
fresh process; sandboxed and unsandboxed (--unsafe-no-sandbox) runs alternate so that a change
in the machine's load hits both. Prints each run, the medians, their ratio and the targets line
(the sandbox costs at most 20% more wall time), and checks that both modes gave the same scores.
"""

import argparse
import csv
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXERCISE = "00_setup_and_tour"
TARGET = 1.20


def make_class(folder: Path, count: int) -> None:
    folder.mkdir()
    for number in range(count):
        source = ROOT / ("solutions" if number % 2 == 0 else "exercises") / f"{EXERCISE}.ipynb"
        shutil.copy(source, folder / f"student{number:02d}.ipynb")


def grade(submissions: Path, out: Path, sandboxed: bool) -> tuple[float, dict[str, str]]:
    command = [sys.executable, "-m", "course_lib.cli", "grade", str(submissions), "--exercise",
               EXERCISE, "--jobs", "2", "--out", str(out), "--solutions", str(ROOT / "solutions")]
    if not sandboxed:
        command.append("--unsafe-no-sandbox")
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"grading failed ({done.returncode}): {done.stderr[-1000:]}")
    with (out / "gradebook.csv").open() as handle:
        scores = {row["submission"]: row["score"] for row in csv.DictReader(handle)}
    shutil.rmtree(out)
    return seconds, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--submissions", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        submissions = Path(work) / "class"
        make_class(submissions, args.submissions)
        times: dict[bool, list[float]] = {True: [], False: []}
        scores: dict[bool, dict[str, str]] = {}
        for repeat in range(args.repeats):
            for sandboxed in (False, True) if repeat % 2 == 0 else (True, False):
                seconds, scores[sandboxed] = grade(submissions, Path(work) / "out", sandboxed)
                times[sandboxed].append(seconds)
                label = "sandboxed  " if sandboxed else "unsandboxed"
                print(f"{label} {args.submissions} submissions, --jobs 2: {seconds:6.1f} s "
                      f"({seconds / args.submissions:.2f} s each)")
    if scores[True] != scores[False]:
        raise SystemExit(f"the two modes disagree: {scores}")
    plain, boxed = statistics.median(times[False]), statistics.median(times[True])
    ratio = boxed / plain
    print(f"median: unsandboxed {plain:.1f} s, sandboxed {boxed:.1f} s, ratio {ratio:.3f}")
    print(f"scores: {sorted(set(scores[True].values()))} (same in both modes)")
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"targets: sandbox overhead <= {TARGET - 1:.0%} of wall time: {verdict} "
          f"({ratio - 1:+.1%})")


if __name__ == "__main__":
    main()
