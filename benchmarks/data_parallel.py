"""What data parallelism buys on this machine: the chapter-09 GPT, one process vs torchrun.

    COURSE_DATA_DIR=../shared/data python benchmarks/data_parallel.py [--minutes 1.5]

Trains ``course train gpt-char`` for the same budget three ways, each in fresh processes: one
process with 1 thread, one process with N threads, and ``torchrun --nproc_per_node=N`` with 1
thread per process (N = the number of CPU cores, at most 4). The global batch is the same in
all three (``course_lib.distributed`` splits it), so steps are comparable: the figure is
updates per minute, and the validation loss reached in the budget. On a GPU machine, run it
with CUDA_VISIBLE_DEVICES set to pick the cards; torchrun then gives each process one GPU.
"""

import argparse
import os
import re
import subprocess
import sys


def run(label: str, command: list[str], threads: int, minutes: float) -> tuple[float, float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TQDM_DISABLE": "1"}
    done = subprocess.run([*command, "-m", "course_lib.cli", "train", "gpt-char", "--minutes",
                           str(minutes)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{label} failed: {done.stderr[-2000:]}")
    found = re.search(r"trained (\d+) steps in ([\d.]+) min; validation ([\d.]+)", done.stdout)
    steps, spent, nats = int(found[1]), float(found[2]), float(found[3])
    print(f"{label:<34} {steps:5d} steps in {spent:.2f} min = {steps / spent:6.1f} steps/min, "
          f"validation {nats:.4f} nats/char", flush=True)
    return steps / spent, nats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.5)
    args = parser.parse_args()
    cores = min(4, os.cpu_count() or 1)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={cores}"]
    single, _ = run("1 process x 1 thread", [sys.executable], 1, args.minutes)
    threaded, _ = run(f"1 process x {cores} threads", [sys.executable], cores, args.minutes)
    parallel, _ = run(f"torchrun {cores} processes x 1 thread", torchrun, 1, args.minutes)
    print(f"speed-up over 1 thread: {cores} threads {threaded / single:.2f}x, "
          f"{cores} processes {parallel / single:.2f}x (ideal {cores}x)")


if __name__ == "__main__":
    main()
