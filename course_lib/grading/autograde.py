"""Grade one submission: identify the exercise, run the student's cells, run the instructor's tests.

The student's code cells run in order in a fresh kernel (their copies of test cells are
skipped). Then every test cell of the instructor's source runs, in the instructor's order, in a
copy of the student's namespace with a fresh copy of ``builtins`` and freshly imported
``course_lib.grading`` helpers; a test passes when it raises nothing (warnings and stderr do not
count) and earns its points all-or-nothing. ``grade_file`` never raises: every failure becomes
a result with ``status: "error"`` and a message saying what to do.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import platform
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from course_lib.grading.notebook_format import Exercise, TestCell, course_metadata
from course_lib.grading.runner import Execution, KernelSession, clean_message

RESULT_SCHEMA = "course-grading/1"
RESULT_MIME = "application/vnd.course.test-result+json"

TEST_WRAPPER = """\
def _course_run_test(source, filename):
    import sys
    state = sys.modules.get("_course_grading_state")
    fresh = dict(state.builtins)
    for name in [m for m in sys.modules if m.split(".")[:2] == ["course_lib", "grading"]]:
        del sys.modules[name]
    from IPython import get_ipython
    from IPython.display import display
    namespace = fresh["dict"](get_ipython().user_ns)
    namespace["__builtins__"] = fresh
    result = {{"status": "passed"}}
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fresh["exec"](fresh["compile"](source, filename, "exec"), namespace)
    except KeyboardInterrupt:
        result = {{"status": "interrupted"}}
    except BaseException as error:
        import traceback
        lines = [n for f, n in traceback.walk_tb(error.__traceback__)
                 if f.f_code.co_filename == filename]
        try:
            evalue = fresh["str"](error)[:2000]
        except BaseException:
            evalue = "(the exception could not be shown)"
        result = {{"status": "failed", "ename": fresh["type"](error).__name__, "evalue": evalue,
                  "lines": lines}}
    display({{{mime!r}: result}}, raw=True)
_course_run_test({source!r}, {filename!r}); del _course_run_test
"""


@dataclass(frozen=True)
class Settings:
    """Limits for one grading run (seconds and MiB)."""

    cell_timeout: float = 30.0
    test_timeout: float = 30.0
    time_budget: float = 300.0  # for all the student's cells together (tests have their own)
    memory_mb: int = 4096
    max_restarts: int = 5


class SubmissionError(ValueError):
    """A submission that cannot be graded (the message is shown to instructor and student)."""


def read_submission(path: Path) -> nbformat.NotebookNode:
    """The notebook in ``path``; SubmissionError saying what is wrong with the file otherwise."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as error:
        raise SubmissionError(f"cannot read the file: {error.strerror}") from None
    except UnicodeDecodeError:
        raise SubmissionError("not a notebook: the file is not UTF-8 text; submit the .ipynb file "
                              "saved by Jupyter") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SubmissionError(f"not a notebook: the file is not valid JSON ({error.msg} at line "
                              f"{error.lineno}, column {error.colno}); the notebook is damaged, "
                              "resubmit a copy that opens in Jupyter") from None
    if not isinstance(data, dict) or "cells" not in data or "nbformat" not in data:
        raise SubmissionError("not a notebook: valid JSON but without 'cells' and 'nbformat'; "
                              "submit the .ipynb file saved by Jupyter")
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as error:
        raise SubmissionError(f"not a readable notebook ({type(error).__name__}: "
                              f"{clean_message(str(error), 200)})") from None


def identify(notebook, exercises: dict[str, Exercise], expected: str | None) -> Exercise:
    """The exercise a submission belongs to, from its metadata (or, without it, its cell ids)."""
    name = course_metadata(notebook).get("exercise")
    if name is None:
        ids = {course_metadata(cell).get("id") for cell in notebook.cells} - {None}
        matches = [e.name for e in exercises.values() if ids & e.cell_ids]
        if len(matches) != 1:
            raise SubmissionError("not a course exercise notebook: no metadata course.exercise "
                                  "and no cells with known task ids; submit the notebook from "
                                  "exercises/ that you filled in")
        name = matches[0]
    if expected is not None and name != expected:
        raise SubmissionError(f"wrong exercise: this notebook is exercise {name!r}, but "
                              f"{expected!r} is being graded; submit the right notebook")
    if name not in exercises:
        raise SubmissionError(f"unknown exercise {name!r}: the grader knows "
                              f"{', '.join(sorted(exercises)) or 'no exercises'}")
    return exercises[name]


def _first_line(source: str) -> str:
    line = next((s.strip() for s in source.split("\n") if s.strip()), "")
    return line if len(line) <= 40 else line[:39] + "…"


def _cell_message(run: Execution, timeout: float) -> str:
    if run.status == "error":
        return run.error_text
    if run.status == "timeout":
        if run.restarted:
            return (f"did not finish within {timeout:g} s and ignored the interrupt: the kernel "
                    "was restarted, earlier cells replayed, this cell skipped")
        return f"did not finish within {timeout:g} s and was interrupted"
    return ("the kernel died (os._exit, a segfault or similar): it was restarted, earlier cells "
            "replayed, this cell skipped")


def _test_outcome(test: TestCell, run: Execution, timeout: float) -> tuple[str, str]:
    """(status, message) of one test; hidden code and values never appear in the message."""
    if run.status == "crashed":
        return "error", "the kernel died during this test (os._exit, a segfault or similar)"
    if run.status == "timeout":
        return "timeout", f"did not finish within {timeout:g} s"
    if run.status == "error":
        return "error", "the test could not run: " + run.error_text
    results = [o["data"][RESULT_MIME] for o in run.outputs
               if o.get("output_type") == "display_data" and RESULT_MIME in o.get("data", {})]
    if len(results) != 1:
        return "error", "the test reported no result (was the grading machinery overwritten?)"
    result = results[0]
    if result["status"] == "passed":
        return "passed", "passed"
    if result["status"] == "interrupted":
        return "timeout", f"did not finish within {timeout:g} s"
    lines = result.get("lines") or []
    if not lines or any(line in test.hidden_lines for line in lines):
        return "failed", f"hidden test failed: {result['ename']}"
    code = test.source.split("\n")[lines[-1] - 1].strip()
    error = f"{result['ename']}: {result['evalue']}" if result["evalue"] else result["ename"]
    return "failed", clean_message(f"line {lines[-1]}: {code} -> {error}")


async def _replay(session: KernelSession, history: list[str], settings: Settings) -> None:
    for source in history:
        run = await session.execute(source, settings.cell_timeout, store_history=True)
        if run.restarted:
            return


async def _grade_in_kernel(notebook, exercise: Exercise, settings: Settings, timings: dict):
    student_cells = [(number, cell) for number, cell in enumerate(notebook.cells, start=1)
                     if cell.cell_type == "code" and cell.source.strip()
                     and course_metadata(cell).get("kind") != "test"]
    problems, tests, history = [], [], []
    with tempfile.TemporaryDirectory(prefix="course-grade-") as workdir:
        started = time.monotonic()
        async with KernelSession(workdir, settings.memory_mb) as session:
            timings["kernel_start_s"] = time.monotonic() - started
            deadline = time.monotonic() + settings.time_budget
            for number, cell in student_cells:
                task = course_metadata(cell).get("id")
                remaining = deadline - time.monotonic()
                if remaining <= 0 or session.restarts > settings.max_restarts:
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
            timings["student_cells_s"] = time.monotonic() - started - timings["kernel_start_s"]
            tests_started = time.monotonic()
            for test in exercise.tests:
                if session.restarts > settings.max_restarts:
                    status, message = "not_run", "not run: the kernel crashed too often"
                else:
                    source = TEST_WRAPPER.format(source=test.source, filename=f"<test {test.id}>",
                                                 mime=RESULT_MIME)
                    run = await session.execute(source, settings.test_timeout)
                    status, message = _test_outcome(test, run, settings.test_timeout)
                    if run.restarted:
                        await _replay(session, history, settings)
                tests.append(_test_entry(test, status, message))
            timings["tests_s"] = time.monotonic() - tests_started
            timings["kernel_restarts"] = session.restarts
    return problems, tests


def _test_entry(test: TestCell, status: str, message: str) -> dict:
    return {"id": test.id, "points": test.points if status == "passed" else 0.0,
            "max_points": test.points, "status": status, "hidden": test.has_hidden,
            "message": message}


def versions() -> dict:
    found = {"python": platform.python_version()}
    for package in ("course-lib", "nbclient", "jupyter_client", "ipykernel", "nbformat"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "unknown"
    return found


def new_result(name: str, file: str, exercise: str | None, settings: Settings,
               error: str | None = None) -> dict:
    """A result with no tests run yet (``status: "error"`` when ``error`` is given)."""
    return {"schema": RESULT_SCHEMA, "submission": name, "file": file, "exercise": exercise,
            "title": None, "status": "error" if error else "graded", "error": error,
            "score": 0.0, "max_score": 0.0, "tests": [], "cell_problems": [],
            "settings": asdict(settings), "versions": versions(), "timings": {}}


def grade_file(path: Path, exercises: dict[str, Exercise], expected: str | None = None,
               settings: Settings = Settings(), name: str | None = None) -> dict:
    """The result dict of one submission; never raises (errors become ``status: "error"``)."""
    path = Path(path)
    started = time.monotonic()
    result = new_result(name or path.stem, path.name, expected, settings)
    timings = result["timings"]
    exercise = exercises.get(expected) if expected else None
    try:
        notebook = read_submission(path)
        exercise = identify(notebook, exercises, expected)
        result["exercise"], result["title"] = exercise.name, exercise.title
        problems, tests = asyncio.run(_grade_in_kernel(notebook, exercise, settings, timings))
        result["cell_problems"], result["tests"] = problems, tests
    except SubmissionError as error:
        result["status"], result["error"] = "error", str(error)
    except Exception as error:
        result["status"] = "error"
        result["error"] = (f"internal grading error ({type(error).__name__}: "
                           f"{clean_message(str(error), 200)}); please tell the instructor")
        timings["internal_traceback"] = traceback.format_exc()
    if exercise is not None:
        result["exercise"], result["title"] = exercise.name, exercise.title
        if not result["tests"]:
            result["tests"] = [_test_entry(t, "not_run", "not run: " + result["error"])
                               for t in exercise.tests]
        result["max_score"] = exercise.max_score
    result["score"] = float(sum(test["points"] for test in result["tests"]))
    timings["total_s"] = time.monotonic() - started
    return result
