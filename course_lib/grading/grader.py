"""``course grade``: grade one submission or a whole class, in parallel, always writing results.

    course grade alice.ipynb                        # grading-output/alice/{result.json,...}
    course grade submissions/ --jobs 2 --exercise 00_setup_and_tour   # + gradebook.csv

Each submission gets a folder ``OUT/NAME/`` with ``result.json`` (the grader's own record),
``results.json`` (Gradescope's format) and ``feedback.md``, written by the grader after the
submission's sandbox is gone. Several submissions are graded in separate worker processes
(``--jobs N`` at a time), each with a private temporary folder that the driver removes however
the worker ends; a worker that dies still leaves an error result. Student code runs in a
bubblewrap sandbox (``sandbox.py``); without bubblewrap the grader refuses to run unless given
``--unsafe-no-sandbox``, and then says so in every result. Exit status: 0 when every submission
was graded, 1 when some could not be (their results say why), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from course_lib.grading import reports, sandbox
from course_lib.grading.autograde import NO_SANDBOX_WARNING, Settings, grade_file, new_result
from course_lib.grading.notebook_format import ExerciseFormatError, load_exercises


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``course grade`` (shared by the worker processes)."""
    defaults = Settings()
    parser.add_argument("submissions", nargs="+", type=Path,
                        help="submission files, or folders searched for *.ipynb")
    parser.add_argument("--solutions", type=Path, default=Path("solutions"),
                        help="folder of instructor sources (default: solutions)")
    parser.add_argument("--exercise", help="the exercise being graded, e.g. 00_setup_and_tour; "
                        "a submission of another exercise is an error (default: from metadata)")
    parser.add_argument("--out", type=Path, default=Path("grading-output"),
                        help="folder for results (default: grading-output)")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once")
    parser.add_argument("--cell-timeout", type=float, default=defaults.cell_timeout,
                        help="seconds per student cell (default: %(default)s)")
    parser.add_argument("--test-timeout", type=float, default=defaults.test_timeout,
                        help="seconds per test (default: %(default)s)")
    parser.add_argument("--time-budget", type=float, default=defaults.time_budget,
                        help="seconds for all student cells together (default: %(default)s)")
    parser.add_argument("--memory-mb", type=int, default=defaults.memory_mb,
                        help="address-space limit of the kernel in MiB, 0 for none "
                        "(default: %(default)s)")
    parser.add_argument("--gradescope-results", type=Path,
                        help="also write Gradescope's results.json here (one submission only)")
    parser.add_argument("--unsafe-no-sandbox", action="store_true",
                        help="run student code without the bubblewrap sandbox (it can then read "
                        "the solutions and change results; every result says so)")
    parser.add_argument("--name", help=argparse.SUPPRESS)  # worker: the submission's name
    parser.add_argument("--tmp-dir", type=Path, help=argparse.SUPPRESS)  # worker: its folder


_UNSAFE_CHARACTERS = re.compile(r"[^A-Za-z0-9_.-]")


def safe_name(parts: tuple[str, ...]) -> str:
    """A result folder name from path parts: only ``[A-Za-z0-9_.-]``, never ``.``-led."""
    name = "__".join(_UNSAFE_CHARACTERS.sub("_", part) for part in parts) or "submission"
    return "_" + name if name.startswith(".") else name


def find_submissions(paths: list[Path]) -> list[tuple[str, Path]]:
    """(name, path) pairs: a file as given (named by its stem), a folder's ``*.ipynb`` files
    recursively (named by the path inside the folder, '/' as '__'; folders and links named
    ``*.ipynb`` are not files and are skipped); duplicate names get a suffix."""
    found: list[tuple[str, Path]] = []
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*.ipynb")):
                inside = file.relative_to(path)
                if ".ipynb_checkpoints" not in inside.parts and file.is_file() \
                        and not file.is_symlink():
                    found.append((safe_name(inside.with_suffix("").parts), file))
        else:
            found.append((safe_name((path.stem,)), path))
    names: dict[str, int] = {}
    unique = []
    for name, file in found:
        names[name] = names.get(name, 0) + 1
        unique.append((name if names[name] == 1 else f"{name}-{names[name]}", file))
    return unique


def result_folder(out: Path, name: str) -> Path:
    """``out/name``, refusing any name that would lead outside ``out``."""
    folder = out / name
    if name != safe_name((name,)) or folder.resolve().parent != out.resolve():
        raise ValueError(f"unsafe submission name {name!r}")
    return folder


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(cell_timeout=args.cell_timeout, test_timeout=args.test_timeout,
                    time_budget=args.time_budget, memory_mb=args.memory_mb,
                    sandboxed=not args.unsafe_no_sandbox)


def _worker_command(args: argparse.Namespace, name: str, path: Path, tmp: Path) -> list[str]:
    return [sys.executable, "-m", "course_lib.grading.grader", str(path), "--name", name,
            "--tmp-dir", str(tmp), "--solutions", str(args.solutions), "--out", str(args.out),
            "--cell-timeout", str(args.cell_timeout), "--test-timeout", str(args.test_timeout),
            "--time-budget", str(args.time_budget), "--memory-mb", str(args.memory_mb),
            *(["--exercise", args.exercise] if args.exercise else []),
            *(["--unsafe-no-sandbox"] if args.unsafe_no_sandbox else [])]


def _grade_in_worker(args: argparse.Namespace, name: str, path: Path) -> dict:
    """Grade in a child process; if it leaves no result, write an error result for it. The
    worker's temporary folder (kernel sockets, connection files) is removed in any case."""
    settings = settings_from(args)
    folder = result_folder(args.out, name)
    (folder / reports.RESULT_FILE).unlink(missing_ok=True)
    # Generous: the budget, every test, and some kernel restarts with replays.
    limit = settings.time_budget * 2 + settings.test_timeout * 50 + 300
    tmp = Path(tempfile.mkdtemp(prefix="course-grade-worker-"))
    try:
        done = subprocess.run(_worker_command(args, name, path, tmp), capture_output=True,
                              text=True, timeout=limit, stdin=subprocess.DEVNULL)
        why = f"the grading process exited with status {done.returncode}: {done.stderr[-300:]}"
    except subprocess.TimeoutExpired:
        why = f"the grading process did not finish within {limit:g} s"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if (folder / reports.RESULT_FILE).exists():
        return json.loads((folder / reports.RESULT_FILE).read_text(encoding="utf-8"))
    result = new_result(name, path.name, args.exercise, settings,
                        error=f"internal grading error: {why.strip()}")
    reports.write_result(result, folder)
    return result


def _summary(result: dict, folder: Path) -> str:
    score = f"{result['score']:g}/{result['max_score']:g}"
    extra = f" ({result['error']})" if result["error"] else ""
    return f"{result['submission']}: {score} {result['status']}{extra} -> {folder / reports.FEEDBACK_FILE}"


def main(args: argparse.Namespace) -> int:
    """Grade every submission named in ``args``; see the module docstring for exit statuses."""
    try:
        exercises = load_exercises(args.solutions)
    except (ExerciseFormatError, FileNotFoundError) as error:
        print(f"course grade: {error}", file=sys.stderr)
        return 2
    if args.exercise and args.exercise not in exercises:
        print(f"course grade: unknown exercise {args.exercise!r}; {args.solutions} has "
              f"{', '.join(exercises) or 'none'}", file=sys.stderr)
        return 2
    if not args.unsafe_no_sandbox:
        try:
            sandbox.probe()
        except sandbox.SandboxUnavailable as error:
            print(f"course grade: {error}", file=sys.stderr)
            return 2
    try:
        submissions = find_submissions(args.submissions)
    except OSError as error:
        print(f"course grade: cannot read {error.filename}: {error.strerror}", file=sys.stderr)
        return 2
    if args.name:  # a worker process: exactly the one file it was given
        submissions = [(args.name, args.submissions[0])]
    if not submissions:
        print("course grade: no submissions found (give .ipynb files or folders)", file=sys.stderr)
        return 2
    if args.gradescope_results and len(submissions) != 1:
        print("course grade: --gradescope-results needs exactly one submission", file=sys.stderr)
        return 2
    if args.name or (len(submissions) == 1 and not any(p.is_dir() for p in args.submissions)):
        name, path = submissions[0]
        results = [grade_file(path, exercises, args.exercise, settings_from(args), name=name,
                              folder=args.tmp_dir)]
        reports.write_result(results[0], result_folder(args.out, name))
    else:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(lambda item: _grade_in_worker(args, *item), submissions))
        print(f"gradebook: {reports.write_gradebook(results, args.out / reports.GRADEBOOK_FILE)}")
    if args.gradescope_results:
        args.gradescope_results.parent.mkdir(parents=True, exist_ok=True)
        args.gradescope_results.write_text(
            json.dumps(reports.gradescope_results(results[0]), indent=1) + "\n", encoding="utf-8")
    if args.unsafe_no_sandbox:
        print(f"WARNING: {NO_SANDBOX_WARNING}", file=sys.stderr)
    for result in results:
        print(_summary(result, args.out / result["submission"]))
    return 0 if all(result["status"] == "graded" for result in results) else 1


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m course_lib.grading.grader")
    add_arguments(_parser)
    raise SystemExit(main(_parser.parse_args()))
