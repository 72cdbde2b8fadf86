"""Grade one submission: run the student's cells in a sandboxed kernel, decide verdicts outside.

1. The student's code cells run in order in a fresh kernel in the sandbox (their copies of
   test cells are skipped). A crashing or looping cell costs only itself.
2. Every test of the instructor's source runs **in the grader's own process**, in a namespace
   made of the instructor's setup cells (code cells without course metadata, run here) and,
   for each name the solution cells define, the student's object: a ``remote.StudentFunction``
   that calls into the kernel and returns plain data, or the plain value of a variable. So no
   student object and no change the student made to their own process can take part in a check.
3. Visible parts of all tests run first (their failures are shown in detail); then the hidden
   parts (a failure says only ``hidden test failed: <builtin exception name>``). A student's
   function therefore never sees a hidden input before every detailed message is decided.
   Each part starts from seeded random generators; a hidden part continues from the random
   state and the names its visible part left.

A test earns its points all-or-nothing. ``grade_file`` never raises: every failure becomes a
result with ``status: "error"`` and a message saying what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.metadata
import json
import platform
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from course_lib.grading import checking, sandbox
from course_lib.grading.notebook_format import Exercise, course_metadata
from course_lib.grading.remote import KernelBridge
from course_lib.grading.runner import Execution, KernelSession, clean_message

RESULT_SCHEMA = "course-grading/2"
NO_SANDBOX_WARNING = ("graded WITHOUT a sandbox (--unsafe-no-sandbox): the student's code could "
                      "read the solutions and change this result")


@dataclass(frozen=True)
class Settings:
    """Limits for one grading run (seconds and MiB)."""

    cell_timeout: float = 30.0
    test_timeout: float = 30.0
    time_budget: float = 300.0  # for all the student's cells together (tests have their own)
    memory_mb: int = 4096
    max_restarts: int = 5  # kernel restarts allowed while the student's cells run, and again for tests
    sandboxed: bool = True  # False only with --unsafe-no-sandbox

    def limits(self, tests: int) -> sandbox.Limits:
        """The sandbox's limits: CPU time enough for the budget, every test and some replays."""
        cpu = int(self.time_budget * 2 + self.test_timeout * 2 * tests + 120)
        return sandbox.Limits(memory_mb=self.memory_mb, cpu_seconds=cpu)


class SubmissionError(ValueError):
    """A submission that cannot be graded (the message is shown to instructor and student)."""


def read_submission(path: Path) -> nbformat.NotebookNode:
    """The notebook in ``path``; SubmissionError saying what is wrong with the file otherwise.

    nbformat 3 files are converted; a code cell without ``source`` counts as empty."""
    path = Path(path)
    if not path.is_file():
        raise SubmissionError("not a notebook: this is not a regular file; submit the .ipynb file")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise SubmissionError(f"cannot read the file: {error.strerror}") from None
    except UnicodeDecodeError:
        raise SubmissionError("not a notebook: the file is not UTF-8 text; submit the .ipynb file "
                              "saved by Jupyter") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        where = (f" ({error.msg} at line {error.lineno}, column {error.colno})"
                 if isinstance(error, json.JSONDecodeError) else "")
        raise SubmissionError(f"not a notebook: the file is not valid JSON{where}; the notebook "
                              "is damaged, resubmit a copy that opens in Jupyter") from None
    if not isinstance(data, dict) or "nbformat" not in data or not (
            "cells" in data or "worksheets" in data):
        raise SubmissionError("not a notebook: valid JSON but without 'cells' and 'nbformat'; "
                              "submit the .ipynb file saved by Jupyter")
    if data.get("nbformat") not in (3, 4):
        raise SubmissionError(f"not a notebook this grader reads: nbformat {data.get('nbformat')!r}"
                              " (3 and 4 are read); save it again with a current Jupyter")
    cells = data.get("cells") if data["nbformat"] == 4 else None
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict) and "source" not in cell:
            cell["source"] = ""
    try:
        notebook = nbformat.reads(json.dumps(data), as_version=4)
        for cell in notebook.cells:
            cell.setdefault("source", "")
            cell.setdefault("metadata", {})
            if not isinstance(cell.source, str):
                raise TypeError("a cell's source is not text")
        return notebook
    except Exception as error:
        raise SubmissionError(f"not a readable notebook ({type(error).__name__}: "
                              f"{clean_message(str(error), 200)})") from None


def identify(notebook, exercises: dict[str, Exercise], expected: str | None) -> Exercise:
    """The exercise a submission belongs to, from its metadata or, without it, its cell ids
    (``expected`` decides when several exercises share ids)."""
    name = course_metadata(notebook).get("exercise")
    if name is None:
        ids = {course_metadata(cell).get("id") for cell in notebook.cells} - {None}
        overlap = {e.name: len(ids & e.cell_ids) for e in exercises.values() if ids & e.cell_ids}
        if expected in overlap:
            name = expected
        elif overlap:
            best = max(overlap.values())
            matches = sorted(n for n, count in overlap.items() if count == best)
            if len(matches) > 1:
                raise SubmissionError(f"cannot tell which exercise this is (its cells match "
                                      f"{', '.join(matches)}); grade it with --exercise")
            name = matches[0]
        else:
            raise SubmissionError("not a course exercise notebook: no metadata course.exercise "
                                  "and no cells with known task ids; submit the notebook from "
                                  "exercises/ that you filled in")
    if not isinstance(name, str):
        raise SubmissionError("not a course exercise notebook: metadata course.exercise is not text")
    if expected is not None and name != expected:
        raise SubmissionError(f"wrong exercise: this notebook is exercise {clean_message(name, 60)!r}"
                              f", but {expected!r} is being graded; submit the right notebook")
    if name not in exercises:
        raise SubmissionError(f"unknown exercise {clean_message(name, 60)!r}: the grader knows "
                              f"{', '.join(sorted(exercises)) or 'no exercises'}")
    return exercises[name]


def _first_line(source: str) -> str:
    line = next((s.strip() for s in source.split("\n") if s.strip()), "")
    return clean_message(line, 40)


def _cell_message(run: Execution, timeout: float) -> str:
    if run.status == "error":
        return run.error_text
    if run.status == "timeout":
        if run.restarted:
            return (f"did not finish within {timeout:g} s and ignored the interrupt: the kernel "
                    "was restarted, earlier cells replayed, this cell skipped")
        return f"did not finish within {timeout:g} s and was interrupted"
    return ("the kernel died (os._exit, a segfault, a resource limit or similar): it was "
            "restarted, earlier cells replayed, this cell skipped")


async def _replay(session: KernelSession, history: list[str], settings: Settings) -> None:
    """Run again the student cells that ran without crashing (their problems are not recorded
    twice); stop early if the kernel dies again."""
    for source in history:
        run = await session.execute(source, settings.cell_timeout, store_history=True)
        if run.restarted:
            return


async def _run_student_cells(session, cells, settings: Settings, history: list[str]) -> list[dict]:
    """Run the student's cells in order; the problems they had. After ``max_restarts`` kernel
    restarts the remaining cells are skipped, but the kernel lives on for the tests."""
    problems = []
    deadline = time.monotonic() + settings.time_budget
    for number, cell in cells:
        task = course_metadata(cell).get("id")
        remaining = deadline - time.monotonic()
        if remaining <= 0 or session.restarts >= settings.max_restarts:
            why = ("the kernel crashed too often" if remaining > 0 else
                   f"the time budget of {settings.time_budget:g} s was used up")
            problems.append({"cell": number, "task": task, "status": "skipped",
                             "message": f"not run: {why}", "first_line": _first_line(cell.source)})
            continue
        timeout = min(settings.cell_timeout, remaining)
        run = await session.execute(cell.source, timeout, store_history=True)
        if run.status in ("ok", "error"):
            history.append(cell.source)
        if run.status != "ok":
            problems.append({"cell": number, "task": task, "status": run.status,
                             "message": _cell_message(run, timeout),
                             "first_line": _first_line(cell.source)})
        if run.restarted:
            await _replay(session, history, settings)
    return problems


async def _grade_in_kernel(notebook, exercise: Exercise, settings: Settings, timings: dict,
                           folder: Path):
    student_cells = [(number, cell) for number, cell in enumerate(notebook.cells, start=1)
                     if cell.cell_type == "code" and cell.source.strip()
                     and course_metadata(cell).get("kind") != "test"]
    history: list[str] = []
    started = time.monotonic()
    limits = settings.limits(len(exercise.tests))
    async with KernelSession(folder, limits, sandboxed=settings.sandboxed) as session:
        timings["kernel_start_s"] = time.monotonic() - started
        problems = await _run_student_cells(session, student_cells, settings, history)
        timings["student_cells_s"] = time.monotonic() - started - timings["kernel_start_s"]
        tests_started = time.monotonic()
        loop = asyncio.get_running_loop()
        bridge = KernelBridge(session, loop, lambda: _replay(session, history, settings),
                              settings.max_restarts)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="course-tests") as pool:
            tests = await loop.run_in_executor(
                pool, checking.run_tests, exercise, bridge, settings.test_timeout)
        timings["tests_s"] = time.monotonic() - tests_started
        timings["kernel_restarts"] = session.restarts
    return problems, tests


def versions() -> dict:
    found = {"python": platform.python_version()}
    for package in ("course-lib", "nbclient", "jupyter_client", "ipykernel", "nbformat"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "unknown"
    return found


def sandbox_description(settings: Settings) -> str:
    if not settings.sandboxed:
        return "none: " + NO_SANDBOX_WARNING
    try:
        return sandbox.probe()
    except sandbox.SandboxUnavailable as error:
        return f"unavailable: {error}"


def new_result(name: str, file: str, exercise: str | None, settings: Settings,
               error: str | None = None) -> dict:
    """A result with no tests run yet (``status: "error"`` when ``error`` is given)."""
    return {"schema": RESULT_SCHEMA, "submission": name, "file": file, "exercise": exercise,
            "title": None, "status": "error" if error else "graded", "error": error,
            "score": 0.0, "max_score": 0.0, "tests": [], "cell_problems": [],
            "sandbox": sandbox_description(settings), "submission_sha256": None,
            "tests_sha256": None, "settings": asdict(settings), "versions": versions(),
            "timings": {}}


def grade_file(path: Path, exercises: dict[str, Exercise], expected: str | None = None,
               settings: Settings = Settings(), name: str | None = None,
               folder: Path | None = None) -> dict:
    """The result dict of one submission; never raises (errors become ``status: "error"``).

    ``folder`` holds the kernel's exchange files (a temporary folder by default, removed after).
    """
    path = Path(path)
    started = time.monotonic()
    result = new_result(name or path.stem, path.name, expected, settings)
    timings = result["timings"]
    exercise = exercises.get(expected) if expected else None
    try:
        with contextlib.suppress(OSError):
            result["submission_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        notebook = read_submission(path)
        exercise = identify(notebook, exercises, expected)
        result["exercise"], result["title"] = exercise.name, exercise.title
        if settings.sandboxed:
            sandbox.probe()
        with tempfile.TemporaryDirectory(prefix="course-grade-", dir=folder) as work:
            problems, tests = asyncio.run(
                _grade_in_kernel(notebook, exercise, settings, timings, Path(work)))
        result["cell_problems"], result["tests"] = problems, tests
    except SubmissionError as error:
        result["status"], result["error"] = "error", str(error)
    except sandbox.SandboxUnavailable as error:
        result["status"], result["error"] = "error", f"cannot grade safely: {error}"
    except Exception as error:
        result["status"] = "error"
        result["error"] = (f"internal grading error ({type(error).__name__}: "
                           f"{clean_message(str(error), 200)}); please tell the instructor")
        timings["internal_traceback"] = traceback.format_exc()
    if exercise is not None:
        result["exercise"], result["title"] = exercise.name, exercise.title
        result["tests_sha256"] = exercise.sha256
        if not result["tests"]:
            result["tests"] = [checking.test_entry(t, "not_run", "not run: " + result["error"])
                               for t in exercise.tests]
        result["max_score"] = exercise.max_score
    result["score"] = float(sum(test["points"] for test in result["tests"]))
    timings["total_s"] = time.monotonic() - started
    return result
