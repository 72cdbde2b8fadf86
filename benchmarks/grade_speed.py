"""How long grading one chapter-00 submission takes (target: under 10 s on the course machine).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/grade_speed.py [--repeats 3]

Grades the solution notebook (full marks) and the untouched student notebook (zero), in this
process, and prints wall time with its parts: kernel start, student cells (mostly `import
torch`), tests. For reference it also times a bare `import torch` in a fresh interpreter, since
that dominates and varies with machine load.
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from course_lib.grading.autograde import Settings, grade_file
from course_lib.grading.notebook_format import load_exercises

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    exercises = load_exercises(ROOT / "solutions")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    print(f"reference: fresh `import torch` {time.perf_counter() - started:.2f} s")
    for label, path in [("solution", ROOT / "solutions" / "00_setup_and_tour.ipynb"),
                        ("student", ROOT / "exercises" / "00_setup_and_tour.ipynb")]:
        totals = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            result = grade_file(path, exercises, None, Settings())
            totals.append(time.perf_counter() - started)
            t = result["timings"]
            print(f"{label:<8} score {result['score']:g}/{result['max_score']:g}  wall "
                  f"{totals[-1]:.2f} s  (kernel start {t['kernel_start_s']:.2f}, student cells "
                  f"{t['student_cells_s']:.2f}, tests {t['tests_s']:.2f})")
        print(f"{label:<8} median {statistics.median(totals):.2f} s over {args.repeats} runs")


if __name__ == "__main__":
    main()
