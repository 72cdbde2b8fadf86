"""The grader end to end (student code in the bubblewrap sandbox): real kernels, the chapter-00 exercise and robustness submissions.

Robustness submissions are built here from the tiny fixture exercise (pure Python, so timeouts
of 2 s are safe) by editing its solution notebook: each one groups a few cases and checks that
every case gets a clear message while the other tests keep their credit.
"""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from course_lib.cli import build_parser
from course_lib.grading.autograde import Settings, grade_file
from course_lib.grading.notebook_format import course_metadata, load_exercises
from course_lib.grading.runner import KernelSession

pytestmark = pytest.mark.slow  # real kernels

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
CHAPTER_00 = "00_setup_and_tour"
TINY_SOLUTIONS = ROOT / "tests" / "fixtures" / "grading" / "solutions"
TINY = Settings(cell_timeout=2, test_timeout=2, time_budget=60, memory_mb=2048)
TINY_POINTS = {"double-test": 1.0, "mean-test": 2.0, "count-words-test": 1.0}


def grade(path, solutions=TINY_SOLUTIONS, settings=TINY, expected=None):
    return grade_file(Path(path), load_exercises(solutions), expected, settings)


def by_id(result):
    return {test["id"]: test for test in result["tests"]}


def problems(result):
    return {problem["first_line"]: problem for problem in result["cell_problems"]}


def tiny_solution():
    return nbformat.read(TINY_SOLUTIONS / "90_tiny.ipynb", as_version=4)


def position(notebook, cell_id):
    return next(i for i, cell in enumerate(notebook.cells)
                if course_metadata(cell).get("id") == cell_id)


def insert_after(notebook, cell_id, source):
    notebook.cells.insert(position(notebook, cell_id) + 1, nbformat.v4.new_code_cell(source))


def replace_source(notebook, cell_id, source):
    notebook.cells[position(notebook, cell_id)].source = source


def save(notebook, path):
    nbformat.write(notebook, path)
    return path


def without_timings(result):
    return {key: value for key, value in result.items() if key != "timings"}


# --- the chapter-00 exercise -------------------------------------------------------------------

@pytest.fixture(scope="module")
def solution_results():
    path = SOLUTIONS / f"{CHAPTER_00}.ipynb"
    return [grade(path, SOLUTIONS, Settings()) for _ in range(3)]


def test_solution_scores_full_marks(solution_results):
    result = solution_results[0]
    assert result["status"] == "graded" and result["error"] is None
    assert result["exercise"] == CHAPTER_00
    assert result["score"] == result["max_score"] == 8
    assert all(test["status"] == "passed" for test in result["tests"])
    assert result["cell_problems"] == []


def test_grading_three_times_gives_identical_results(solution_results):
    first, *others = solution_results
    for other in others:
        assert json.dumps(without_timings(first), sort_keys=True) == json.dumps(
            without_timings(other), sort_keys=True)


def test_untouched_student_notebook_scores_zero_without_infrastructure_errors():
    result = grade(ROOT / "exercises" / f"{CHAPTER_00}.ipynb", SOLUTIONS, Settings())
    assert result["status"] == "graded" and result["error"] is None
    assert result["score"] == 0 and result["max_score"] == 8
    assert result["cell_problems"] == []
    for test in result["tests"]:
        assert test["status"] == "failed"
        assert "NotImplementedError: Exercise 0." in test["message"], test


def test_chapter_00_survives_errors_and_a_dead_kernel(tmp_path):
    notebook = nbformat.read(SOLUTIONS / f"{CHAPTER_00}.ipynb", as_version=4)
    insert_after(notebook, "build-vocab", "import os\nos._exit(3)")
    insert_after(notebook, "encode-decode", "print('unclosed'")
    insert_after(notebook, "perplexity", "torch.zeros(2, 3) @ torch.zeros(2, 3)")
    result = grade(save(notebook, tmp_path / "mixed.ipynb"), SOLUTIONS, Settings())
    assert result["score"] == 8, result["tests"]
    found = problems(result)
    assert found["import os"]["status"] == "crashed"
    assert "restarted" in found["import os"]["message"]
    assert found["print('unclosed'"]["message"].startswith("SyntaxError")
    assert found["torch.zeros(2, 3) @ torch.zeros(2, 3)"]["message"].startswith("RuntimeError")
    assert result["timings"]["kernel_restarts"] == 1


# --- robustness, on the tiny exercise ----------------------------------------------------------

def test_loops_are_interrupted_and_grading_goes_on(tmp_path):
    notebook = tiny_solution()
    insert_after(notebook, "double", "while True:\n    pass")
    insert_after(notebook, "mean", "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n"
                 "    except KeyboardInterrupt:\n        pass")
    replace_source(notebook, "count-words", "def count_words(text):\n    while True:\n        pass")
    result = grade(save(notebook, tmp_path / "loops.ipynb"))
    tests = by_id(result)
    assert tests["double-test"]["status"] == tests["mean-test"]["status"] == "passed"
    assert tests["count-words-test"]["status"] == "timeout"
    assert tests["count-words-test"]["message"] == "did not finish within 2 s"
    found = problems(result)
    assert found["while True:"]["message"] == "did not finish within 2 s and was interrupted"
    assert "ignored the interrupt: the kernel was restarted" in found["import time"]["message"]


def test_crashes_errors_and_memory_cost_only_their_own_cell(tmp_path):
    notebook = tiny_solution()
    insert_after(notebook, "double", "import os\nos._exit(1)")
    insert_after(notebook, "mean", "import ctypes\nctypes.string_at(0)")
    insert_after(notebook, "mean", "def broken(:\n    pass")
    insert_after(notebook, "count-words", "hog = bytearray(8 * 2**30)")
    insert_after(notebook, "count-words", "1 / 0")
    result = grade(save(notebook, tmp_path / "crashes.ipynb"))
    assert result["score"] == 4, result
    found = problems(result)
    assert found["import os"]["status"] == found["import ctypes"]["status"] == "crashed"
    assert found["def broken(:"]["message"] == "SyntaxError: invalid syntax (line 1)"
    assert found["1 / 0"]["message"] == "ZeroDivisionError: division by zero"
    assert found["hog = bytearray(8 * 2**30)"]["message"] == "MemoryError"
    assert result["timings"]["kernel_restarts"] == 2


def test_deleted_duplicated_reordered_and_edited_cells(tmp_path):
    notebook = tiny_solution()
    del notebook.cells[position(notebook, "mean")]  # deleted: its test fails, the others don't
    wrong_double = nbformat.v4.new_code_cell("def double(x):\n    return x")
    notebook.cells.insert(position(notebook, "double"), wrong_double)  # duplicated, older first
    words = notebook.cells.pop(position(notebook, "count-words"))
    notebook.cells.insert(1, words)  # reordered: defined before everything else
    replace_source(notebook, "double-test", "assert False, 'edited by the student'")
    replace_source(notebook, "count-words-test", "double = None")  # would break double if run
    result = grade(save(notebook, tmp_path / "structure.ipynb"))
    tests = by_id(result)
    assert tests["double-test"]["status"] == "passed"
    assert tests["count-words-test"]["status"] == "passed"
    assert tests["mean-test"]["status"] == "failed"
    assert tests["mean-test"]["message"].endswith("NameError: name 'mean' is not defined")
    assert result["cell_problems"] == []


def test_overwritten_helpers_and_a_crashing_test(tmp_path):
    notebook = tiny_solution()
    replace_source(notebook, "double", "import os\n\ndef double(x):\n    os._exit(1)")
    replace_source(notebook, "mean", "\n".join([
        "import builtins",
        "import course_lib.grading.checks as checks",
        "def mean(values):",
        "    return 2.0  # right for the visible test only",
        "def assert_close(*args, **kwargs):",
        "    pass",
        "checks.assert_close = assert_close",
        "builtins.abs = lambda x: 0",
    ]))
    result = grade(save(notebook, tmp_path / "cheat.ipynb"))
    tests = by_id(result)
    assert tests["double-test"]["status"] == "error"
    assert "kernel died during this test" in tests["double-test"]["message"]
    assert tests["mean-test"] == {"id": "mean-test", "points": 0.0, "max_points": 2.0,
                                  "status": "failed", "hidden": True,
                                  "message": "hidden test failed: AssertionError"}
    assert tests["count-words-test"]["status"] == "passed"  # after the restart and replay


def test_a_failing_hidden_test_leaks_no_code_or_values(tmp_path):
    notebook = tiny_solution()
    replace_source(notebook, "mean", "def mean(values):\n    return 2.0")
    grade_dir = tmp_path / "out"
    args = build_parser().parse_args([
        "grade", str(save(notebook, tmp_path / "leak.ipynb")), "--solutions", str(TINY_SOLUTIONS),
        "--out", str(grade_dir), "--cell-timeout", "5", "--test-timeout", "5"])
    assert args.run(args) == 0
    result = json.loads((grade_dir / "leak" / "result.json").read_text())
    tests_only = json.dumps([result["tests"], result["cell_problems"], result["error"]])
    for text in [tests_only, *((grade_dir / "leak" / n).read_text() for n in ("results.json",
                                                                             "feedback.md"))]:
        assert "hidden test failed: AssertionError" in text
        assert "SECRET_VALUES" not in text and "0.5" not in text and "range(10)" not in text


def test_a_kernel_that_fails_to_start_is_tried_again(tmp_path, monkeypatch):
    real_start, attempts = KernelSession._start_once, []

    async def flaky_start(session):
        attempts.append(session.starts)
        if len(attempts) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        await real_start(session)

    monkeypatch.setattr(KernelSession, "_start_once", flaky_start)
    result = grade(save(tiny_solution(), tmp_path / "flaky.ipynb"))
    assert result["score"] == 4 and result["status"] == "graded"
    assert len(attempts) == 2


# --- unreadable submissions, other exercises, a whole class ------------------------------------

def test_whole_class_in_parallel_writes_a_gradebook(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    save(tiny_solution(), submissions / "alice.ipynb")
    (submissions / "bob.ipynb").write_text('{"cells": [', encoding="utf-8")
    (submissions / "carol.ipynb").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    shutil.copy(ROOT / "exercises" / f"{CHAPTER_00}.ipynb", submissions / "erin.ipynb")
    out = tmp_path / "out"
    args = build_parser().parse_args([
        "grade", str(submissions), "--solutions", str(TINY_SOLUTIONS), "--exercise", "90_tiny",
        "--out", str(out), "--jobs", "2", "--cell-timeout", "5", "--test-timeout", "5"])
    assert args.run(args) == 1  # some submissions could not be graded
    rows = (out / "gradebook.csv").read_text().splitlines()
    assert rows[0] == ("submission,exercise,status,score,max_score,double-test,mean-test,"
                       "count-words-test,error")
    assert rows[1] == "alice,90_tiny,graded,4,4,1,2,1,"
    errors = {}
    for name in ("bob", "carol", "erin"):
        result = json.loads((out / name / "result.json").read_text())
        assert result["status"] == "error" and result["score"] == 0 and result["max_score"] == 4
        assert (out / name / "results.json").exists() and (out / name / "feedback.md").exists()
        errors[name] = result["error"]
    assert errors["bob"].startswith("not a notebook: the file is not valid JSON")
    assert errors["carol"].startswith("not a notebook: the file is not UTF-8 text")
    assert errors["erin"].startswith("wrong exercise: this notebook is exercise "
                                     f"'{CHAPTER_00}', but '90_tiny' is being graded")


def test_an_unknown_exercise_is_a_clear_error(tmp_path):
    path = save(tiny_solution(), tmp_path / "tiny.ipynb")
    result = grade(path, SOLUTIONS, Settings())
    assert result["status"] == "error" and result["tests"] == []
    assert result["error"].startswith("unknown exercise '90_tiny': the grader knows")
