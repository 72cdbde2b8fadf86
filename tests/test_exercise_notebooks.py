"""Every exercise, graded for real: the solution earns full marks, the student copy zero.

This is what catches a test cell that leans on a name defined in another cell (the grader runs
each test in its own copy of the student's namespace) or a stub that does not fail its tests.
Chapter 00 is graded in more depth in test_grading.py.
"""

from pathlib import Path

import pytest

from course_lib.grading.autograde import Settings, grade_file
from course_lib.grading.notebook_format import load_exercises

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
CHAPTERS = sorted(p.stem for p in SOLUTIONS.glob("*.ipynb") if not p.stem.startswith("00_"))
SETTINGS = Settings(cell_timeout=120, test_timeout=120, time_budget=600)
pytestmark = pytest.mark.slow  # one sandboxed nbclient grading run per test, ~6 s each


@pytest.fixture(scope="module")
def exercises():
    return load_exercises(SOLUTIONS)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solution_earns_full_marks(chapter, exercises):
    result = grade_file(SOLUTIONS / f"{chapter}.ipynb", exercises, chapter, SETTINGS)
    assert result["status"] == "graded", result["error"]
    failed = {t["id"]: t["message"] for t in result["tests"] if t["status"] != "passed"}
    assert failed == {}
    assert result["score"] == result["max_score"] > 0
    assert result["cell_problems"] == []


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_untouched_student_notebook_scores_zero(chapter, exercises):
    result = grade_file(ROOT / "exercises" / f"{chapter}.ipynb", exercises, chapter, SETTINGS)
    assert result["status"] == "graded", result["error"]
    assert result["score"] == 0 < result["max_score"]
    assert all(t["status"] == "failed" for t in result["tests"])
