"""The ``course`` command: ``doctor``, ``data list|fetch``, ``exercises build|check``,
``release students``, ``grade``, ``train``, ``results table``.

Each subcommand is a thin wrapper over a library function, so everything it does can also be
called from Python (and is tested that way).
"""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import os
import platform
import sys
import urllib.error
import urllib.request
from pathlib import Path

PROBE_TIMEOUT_S = 5.0


def download_problem(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why ``url`` cannot be downloaded now (no network, refused, timed out), or None if its
    server answers. Sends one HEAD request; any HTTP answer counts as reachable."""
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # the server answered
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        return f"{getattr(error, 'reason', error)}"


def thread_advice(cores: int, load: float | None, torch_threads: int) -> str | None:
    """A suggestion to use one torch thread when several would fight for few or busy cores.

    ``load`` is the 1-minute load average (None where the system has none). On a shared
    2-core machine, two torch threads made a small training loop many times slower than one.
    """
    if torch_threads <= 1:
        return None
    busy = load is not None and load >= max(cores - 1, 1)
    if cores > 2 and not busy:
        return None
    why = f"{cores} cores" + (f", load {load:.1f}" if busy else "")
    return (f"NOTE: torch uses {torch_threads} threads on {why}: if other work shares the machine, "
            "small models train faster with one thread: start Jupyter with OMP_NUM_THREADS=1, "
            "or call torch.set_num_threads(1) at the top of the notebook")


def _doctor(args: argparse.Namespace) -> int:
    import torch

    from course_lib import corpora, device

    print(f"python      {platform.python_version()} ({sys.executable})")
    for package in ("torch", "numpy", "datasets", "matplotlib", "ipywidgets", "jupyterlab",
                    "nbclient", "sacrebleu", "tokenizers", "rouge-score", "course-lib"):
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = "MISSING"
        print(f"{package:<11} {version}")
    healthy = True
    try:
        dev = device.get_device()
        print(f"device      {device.describe(dev)} (available: {', '.join(device.available_devices())})")
    except (RuntimeError, ValueError) as error:
        healthy = False
        print(f"device      PROBLEM: {error}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"threads     torch {torch.get_num_threads()}, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, {cores} cores"
          + (f", load {load:.1f}" if load is not None else ""))
    advice = thread_advice(cores or 1, load, torch.get_num_threads())
    if advice:
        print(f"            {advice}")
    print(f"cpu bf16    {'native' if device.cpu_has_native_bf16() else 'not native'} "
          "(TrainConfig(cpu_amp=True) uses it only where native)")
    print(f"quick mode  {device.quick_mode()} (COURSE_QUICK)")
    print(f"data mirror {os.environ.get('COURSE_DATA_DIR') or 'unset (COURSE_DATA_DIR)'}")
    print(f"cache       {corpora.cache_dir()}")
    from course_lib import results

    try:
        print(f"results     {results.record_path()} ({len(results.read())} figures recorded)")
    except ValueError as error:
        healthy = False
        print(f"results     PROBLEM: {error}")
    states = corpora.availability()
    for name, state in states.items():
        print(f"  corpus {name:<16} {state}")
    missing = [name for name, state in states.items() if state.startswith("not downloaded")]
    if missing:
        first = corpora.CORPORA[missing[0]]
        url = first.archive.url if first.archive else first.files[0].url
        problem = download_problem(url)
        if problem is None:
            print(f"network     ok: the {len(missing)} missing corpora download on first use")
        else:
            healthy = False
            print(f"network     PROBLEM: cannot download {url} ({problem}), and "
                  f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} neither in "
                  "COURSE_DATA_DIR nor cached: set COURSE_DATA_DIR to a folder holding the files "
                  "(see README, Data), or run `course data fetch all` on a machine with network "
                  f"and copy its cache folder to {corpora.cache_dir()}")
    print("healthy" if healthy else "NOT healthy: see PROBLEM lines above")
    return 0 if healthy else 1


def _data_list(args: argparse.Namespace) -> int:
    from course_lib import corpora

    for name, corpus in corpora.CORPORA.items():
        print(f"{name:<16} {corpus.description}")
        print(f"{'':<16} licence: {corpus.licence}")
        print(f"{'':<16} cite:    {corpus.citation}")
    return 0


def _data_fetch(args: argparse.Namespace) -> int:
    from course_lib import corpora

    names = list(corpora.CORPORA) if args.name == "all" else [args.name]
    for name in names:
        if name not in corpora.CORPORA:
            print(f"Unknown corpus {name!r}. Known corpora: {', '.join(corpora.CORPORA)}, or 'all'.",
                  file=sys.stderr)
            return 2
    failed = 0
    for name in names:
        try:
            corpora.fetch(name, log=print)
        except corpora.CorpusError as error:
            print(f"FAILED {name}: {error}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _exercises(args: argparse.Namespace) -> int:
    from course_lib.grading import generate

    if args.action == "build":
        written = generate.build_all(Path(args.solutions), Path(args.exercises))
        for path in written:
            print(f"wrote {path}")
        return 0
    problems = generate.check_all(Path(args.solutions), Path(args.exercises))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("Run `course exercises build` and commit exercises/.", file=sys.stderr)
        return 1
    print("exercises/ matches solutions/; no solution code or hidden test leaked")
    return 0


def _release(args: argparse.Namespace) -> int:
    from course_lib.grading import release

    try:
        written = release.release_students(Path(args.root), Path(args.out))
    except release.ReleaseError as error:
        print(f"course release: {error}", file=sys.stderr)
        return 1
    print(f"wrote the student edition to {args.out} ({len(written)} files); checked: no "
          "solution or hidden-test line in any of them")
    return 0


def _train(args: argparse.Namespace) -> int:
    import torch

    from course_lib import distributed, lm, recipes
    from course_lib.device import describe, get_device
    from course_lib.metrics import stream_nats, window_nats

    device = get_device()
    ctx = distributed.context(device)
    if ctx.is_main:
        print(f"{args.recipe}: {args.minutes:g} min on {ctx.world_size} process(es), "
              f"{describe(device)}", flush=True)
    if args.recipe.endswith("-char"):
        recipe = recipes.CHAR_LM_RECIPES[args.recipe.removesuffix("-char")]
        train_ids, val_ids, vocab = lm.char_stream()
        model, history = recipes.train_char_lm(recipe, train_ids, len(vocab), device=device,
                                               seed=args.seed, minutes=args.minutes)
        if recipe.recurrent:
            nats = stream_nats(model, val_ids.to(device))
        else:
            nats = window_nats(model, val_ids.to(device), model.block_size)
        result = f"validation {nats:.4f} nats/char"
    else:
        model, history, _ = recipes.train_multi30k(args.recipe.removeprefix("multi30k-"), args.minutes,
                                                   args.steps, device=device,
                                                   log=lambda line: ctx.is_main and print(line))
        result = f"validation loss {history.last('val_loss'):.3f}" if ctx.is_main else ""
    if ctx.is_main:
        print(f"trained {history.steps[-1]} steps in {history.seconds / 60:.2f} min; {result}")
        if args.out:
            torch.save(model.state_dict(), args.out)
            print(f"saved the weights to {args.out}")
    return 0


def _results(args: argparse.Namespace) -> int:
    from course_lib import results

    path = Path(args.record) if args.record else results.record_path()
    try:
        record = results.read(path)
    except ValueError as error:
        print(f"course results: {error}", file=sys.stderr)
        return 1
    print(f"{len(record)} results in {path}" + ("" if path.exists() else " (no record yet: chapters "
          "in full mode and benchmarks write it)"), file=sys.stderr)
    if not args.readme:
        print(results.update_readme(f"{results.START}\n{results.HEADER}\n{results.END}\n", record))
        return 0
    readme = Path(args.readme)
    try:
        updated = results.update_readme(readme.read_text(encoding="utf-8"), record)
    except (OSError, ValueError) as error:
        print(f"course results: {readme}: {error}", file=sys.stderr)
        return 1
    readme.write_text(updated, encoding="utf-8")
    print(f"regenerated the results table of {readme}", file=sys.stderr)
    return 0


def _grade(args: argparse.Namespace) -> int:
    from course_lib.grading import grader

    return grader.main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    doctor = commands.add_parser("doctor", help="check the environment, devices and corpora")
    doctor.set_defaults(run=_doctor)

    data = commands.add_parser("data", help="list or fetch the course corpora")
    data_commands = data.add_subparsers(dest="action", required=True)
    data_commands.add_parser("list", help="the known corpora").set_defaults(run=_data_list)
    fetch = data_commands.add_parser("fetch", help="download (or copy from COURSE_DATA_DIR) and verify")
    fetch.add_argument("name", help="a corpus name (see `course data list`) or 'all'")
    fetch.set_defaults(run=_data_fetch)

    exercises = commands.add_parser("exercises", help="generate or check the student notebooks")
    exercises.add_argument("action", choices=["build", "check"])
    exercises.add_argument("--solutions", default="solutions", help="folder of instructor sources")
    exercises.add_argument("--exercises", default="exercises", help="folder of student notebooks")
    exercises.set_defaults(run=_exercises)

    train = commands.add_parser(
        "train", help="train a course recipe (runs data-parallel under torchrun)",
        description="Train a recipe of the course. Under `torchrun --nproc_per_node=N -m "
        "course_lib.cli train ...` it trains data-parallel (see course_lib.distributed).")
    from course_lib.recipes import CHAR_LM_RECIPES, MULTI30K_RECIPES

    train.add_argument("recipe", choices=[f"{name}-char" for name in CHAR_LM_RECIPES]
                       + [f"multi30k-{name}" for name in MULTI30K_RECIPES],
                       help="*-char: the character LMs of Tiny Shakespeare (gpt-char: chapter "
                       "09's GPT); multi30k-*: the translation recipes of chapters 07-09 "
                       "(course_lib.recipes)")
    train.add_argument("--minutes", type=float, default=10.0, help="time budget (default 10)")
    train.add_argument("--steps", type=int, help="multi30k-*: exactly this many steps instead")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", help="save the trained weights here (rank 0)")
    train.set_defaults(run=_train)

    record = commands.add_parser("results", help="the results record and the README's table")
    record.add_argument("action", choices=["table"])
    record.add_argument("--readme", nargs="?", const="README.md",
                        help="rewrite this README's table in place (default README.md); "
                        "without it, print the table")
    record.add_argument("--record", help="the record to read (default: course_lib.results.record_path())")
    record.set_defaults(run=_results)

    release = commands.add_parser("release", help="write the student edition (no solutions)")
    release.add_argument("audience", choices=["students"])
    release.add_argument("out", help="a new or empty folder outside the repository")
    release.add_argument("--root", default=".", help="the course repository (default: .)")
    release.set_defaults(run=_release)

    grade = commands.add_parser("grade", help="grade submissions (see exercises/README.md)")
    from course_lib.grading import grader

    grader.add_arguments(grade)
    grade.set_defaults(run=_grade)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
