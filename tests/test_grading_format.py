"""The exercise format, the generator and the checker, and the report writers (no kernels)."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from course_lib.cli import main as course_main
from course_lib.grading import generate, reports
from course_lib.grading.autograde import SubmissionError, identify, read_submission
from course_lib.grading.notebook_format import (
    ExerciseFormatError,
    course_metadata,
    load_exercises,
    parse_exercise,
)
from course_lib.grading.runner import clean_message

ROOT = Path(__file__).resolve().parents[1]
TINY_SOLUTIONS = ROOT / "tests" / "fixtures" / "grading" / "solutions"


def make_source(tmp_path, cells, name="01_demo", chapter=1):
    """An instructor source from (source, course metadata or None) pairs."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["course"] = {"exercise": name, "chapter": chapter, "title": "Demo"}
    for number, (source, course) in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source)
        cell.id = str(number)
        if course is not None:
            cell.metadata["course"] = course
        notebook.cells.append(cell)
    folder = tmp_path / "solutions"
    folder.mkdir(exist_ok=True)
    nbformat.write(notebook, folder / f"{name}.ipynb")
    return folder


SOLUTION = ("def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n",
            {"kind": "solution", "id": "f"})
TEST = ("assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(41) == 42\n### END HIDDEN TESTS\n",
        {"kind": "test", "id": "f-test", "points": 2})


def test_student_version_stubs_solutions_and_drops_hidden_tests(tmp_path):
    exercise = parse_exercise(make_source(tmp_path, [SOLUTION, TEST]) / "01_demo.ipynb")
    assert exercise.max_score == 2 and exercise.tests[0].hidden_lines == {2, 3, 4}
    assert exercise.tests[0].part(hidden=False) == "assert f(1) == 2\n\n\n\n"
    assert exercise.tests[0].part(hidden=True) == ("\n### BEGIN HIDDEN TESTS\nassert f(41) == 42\n"
                                                   "### END HIDDEN TESTS\n")
    assert exercise.student_names == ("f",) and exercise.setup_sources == ()
    cells = generate.student_notebook(exercise).cells
    assert cells[0].source == ("def f(x):\n    raise NotImplementedError(\"Exercise 1.1: replace "
                               "this line with your solution (f)\")\n")
    assert cells[1].source == ("assert f(1) == 2\n# (hidden tests run when the notebook is "
                               "graded)\n")
    assert cells[1].metadata["course"] == {"kind": "test", "id": "f-test", "points": 2}


@pytest.mark.parametrize("cells, message", [
    ([("### BEGIN SOLUTION\nx = 1\n", {"kind": "solution", "id": "a"}), TEST], "never closed"),
    ([("x = 1\n### END SOLUTION", {"kind": "solution", "id": "a"}), TEST], "without"),
    ([SOLUTION, TEST, (TEST[0], TEST[1])], "duplicate id 'f-test'"),
    ([SOLUTION, ("assert True", {"kind": "test", "id": "t", "points": 0})], "positive number"),
    ([("### BEGIN SOLUTION\n### END SOLUTION", None), TEST], "without course metadata"),
    ([SOLUTION, ("assert True", {"kind": "check", "id": "t", "points": 1})], "'solution' or 'test'"),
    ([SOLUTION, ("assert True", {"kind": "test", "id": "no spaces", "points": 1})], "id must be"),
    ([SOLUTION], "at least one test cell"),
    # hidden checks run after every visible one: one region, unindented, last in the cell
    ([SOLUTION, ("if True:\n    ### BEGIN HIDDEN TESTS\n    assert f(2) == 3\n    ### END HIDDEN "
                 "TESTS\n", {"kind": "test", "id": "t", "points": 1})], "unindented, at the end"),
    ([SOLUTION, (TEST[0] + "assert f(0) == 1\n", TEST[1])], "unindented, at the end"),
    ([SOLUTION, (TEST[0] + TEST[0], TEST[1])], "one '### BEGIN HIDDEN TESTS' region"),
])
def test_format_errors_say_what_is_wrong(tmp_path, cells, message):
    with pytest.raises(ExerciseFormatError, match=message):
        load_exercises(make_source(tmp_path, cells))


def test_stub_that_breaks_the_syntax_is_a_format_error(tmp_path):
    cells = [("x = (\n### BEGIN SOLUTION\n1)\n### END SOLUTION", {"kind": "solution", "id": "a"}),
             TEST]
    exercise = parse_exercise(make_source(tmp_path, cells) / "01_demo.ipynb")
    with pytest.raises(ExerciseFormatError, match="not valid Python"):
        generate.student_notebook(exercise)


def test_build_is_deterministic_and_check_finds_every_drift(tmp_path):
    solutions = make_source(tmp_path, [SOLUTION, TEST])
    exercises = tmp_path / "exercises"
    assert generate.check_all(solutions, exercises) == [
        f"{exercises / '01_demo.ipynb'}: missing (source {solutions / '01_demo.ipynb'})"]
    [path] = generate.build_all(solutions, exercises)
    first = path.read_bytes()
    generate.build_all(solutions, exercises)
    assert path.read_bytes() == first
    assert generate.check_all(solutions, exercises) == []
    notebook = json.loads(first)
    assert notebook["metadata"]["course"]["exercise"] == "01_demo"
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in notebook["cells"])

    (exercises / "99_orphan.ipynb").write_bytes(first)
    stub = 'raise NotImplementedError(\\"Exercise 1.1: replace this line with your solution (f)\\")'
    path.write_text(first.decode().replace(stub, "return x + 1"))
    found = generate.check_all(solutions, exercises)
    assert any("99_orphan.ipynb: extra file" in p for p in found)
    assert any("01_demo.ipynb: stale" in p for p in found)
    assert any("leaked solution or hidden-test line: 'return x + 1'" in p for p in found)


def test_check_catches_a_leaked_hidden_test_line(tmp_path):
    solutions = make_source(tmp_path, [SOLUTION, TEST])
    exercise = parse_exercise(solutions / "01_demo.ipynb")
    assert generate.leaked_lines(exercise, ["assert f(41) == 42", "assert f(1) == 2"]) == [
        "assert f(41) == 42"]
    assert generate.leaked_lines(exercise, ["    ### BEGIN SOLUTION"]) == ["### BEGIN SOLUTION"]


def test_course_exercises_check_on_the_real_folders(capsys):
    assert course_main(["exercises", "check", "--solutions", str(ROOT / "solutions"),
                        "--exercises", str(ROOT / "exercises")]) == 0
    assert "no solution code or hidden test leaked" in capsys.readouterr().out


def test_course_exercises_build_writes_the_fixture_exercise(tmp_path, capsys):
    exercises = tmp_path / "exercises"
    assert course_main(["exercises", "build", "--solutions", str(TINY_SOLUTIONS),
                        "--exercises", str(exercises)]) == 0
    assert "90_tiny.ipynb" in capsys.readouterr().out
    text = (exercises / "90_tiny.ipynb").read_text()
    assert "Exercise 90.3: replace this line with your solution (count-words)" in text
    assert "SECRET_VALUES" not in text and "BEGIN" not in text


def test_unreadable_submissions_are_submission_errors(tmp_path):
    cases = {"truncated.ipynb": b'{"cells": [', "binary.ipynb": b"\xff\xfe\x00",
             "list.ipynb": b"[1, 2]"}
    messages = []
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(SubmissionError) as error:
            read_submission(tmp_path / name)
        messages.append(str(error.value))
    assert messages[0].startswith("not a notebook: the file is not valid JSON (Expecting value")
    assert "not UTF-8" in messages[1] and "without 'cells'" in messages[2]


def test_old_and_sloppy_notebooks_are_read_not_refused(tmp_path):
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [
        {"cell_type": "code", "input": "x = 1", "language": "python", "outputs": [],
         "metadata": {}}]}]}
    (tmp_path / "v3.ipynb").write_text(json.dumps(v3))
    assert [c.source for c in read_submission(tmp_path / "v3.ipynb").cells] == ["x = 1"]
    v4 = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None}]}
    (tmp_path / "nosource.ipynb").write_text(json.dumps(v4))
    assert [c.source for c in read_submission(tmp_path / "nosource.ipynb").cells] == [""]
    (tmp_path / "dir.ipynb").mkdir()
    with pytest.raises(SubmissionError, match="not a regular file"):
        read_submission(tmp_path / "dir.ipynb")


def test_identify_by_metadata_or_by_cell_ids(tmp_path):
    exercises = load_exercises(TINY_SOLUTIONS)
    notebook = nbformat.read(TINY_SOLUTIONS / "90_tiny.ipynb", as_version=4)
    assert identify(notebook, exercises, None).name == "90_tiny"
    del notebook.metadata["course"]  # e.g. copied cells into a new notebook
    assert identify(notebook, exercises, "90_tiny").name == "90_tiny"
    with pytest.raises(SubmissionError, match="wrong exercise"):
        identify(notebook, exercises, "00_other")
    notebook.cells = notebook.cells[:2]
    for cell in notebook.cells:
        cell.metadata.pop("course", None)
    with pytest.raises(SubmissionError, match="not a course exercise notebook"):
        identify(notebook, exercises, None)


def test_identify_by_shared_cell_ids_uses_the_expected_exercise():
    exercises = load_exercises(ROOT / "solutions")
    notebook = nbformat.read(ROOT / "exercises" / "01_ngram_language_models.ipynb", as_version=4)
    del notebook.metadata["course"]
    notebook.cells = [c for c in notebook.cells if course_metadata(c).get("id") == "perplexity"]
    assert len(notebook.cells) == 1  # "perplexity" is a task of exercises 00 and 01 alike
    with pytest.raises(SubmissionError, match="cannot tell which exercise.*--exercise"):
        identify(notebook, exercises, None)
    for name in ("00_setup_and_tour", "01_ngram_language_models"):
        assert identify(notebook, exercises, name).name == name


def test_messages_are_stable_across_processes():
    assert clean_message("bad <object at 0x7f3a2b1c9d00>") == "bad <object at 0x…>"
    assert clean_message("invalid syntax (2959750420.py, line 3)") == "invalid syntax (line 3)"
    assert clean_message("a\n   b") == "a b"
    assert len(clean_message("x" * 1000)) == 300


def test_reports_escape_markdown_and_fill_the_gradebook(tmp_path):
    result = {"submission": "ann", "exercise": "01_demo", "title": "Demo", "status": "graded",
              "error": None, "score": 1.0, "max_score": 3.0, "cell_problems": [],
              "tests": [{"id": "a", "points": 1.0, "max_points": 1.0, "status": "passed",
                         "hidden": False, "message": "passed"},
                        {"id": "b", "points": 0.0, "max_points": 2.0, "status": "failed",
                         "hidden": True, "message": "line 1: x | y -> AssertionError"}]}
    feedback = reports.feedback_markdown(result)
    assert "**Score: 1 / 3**" in feedback and "x \\| y" in feedback
    gradescope = reports.gradescope_results(result)
    assert gradescope["score"] == 1.0 and [t["status"] for t in gradescope["tests"]] == [
        "passed", "failed"]
    error = dict(result, submission="bo", status="error", error="not a notebook", tests=[],
                 score=0.0, max_score=0.0)
    path = reports.write_gradebook([error, result], tmp_path / "gradebook.csv")
    assert path.read_text().splitlines() == [
        "submission,exercise,status,score,max_score,a,b,error",
        "ann,01_demo,graded,1,3,1,0,", "bo,01_demo,error,0,0,,,not a notebook"]
    reports.write_result(result, tmp_path / "ann")
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == [
        "feedback.md", "result.json", "results.json"]


def test_a_folder_copy_of_the_solutions_builds_identically(tmp_path):
    copy = tmp_path / "solutions"
    shutil.copytree(ROOT / "solutions", copy)
    generate.build_all(copy, tmp_path / "exercises")
    for path in (tmp_path / "exercises").glob("*.ipynb"):
        assert path.read_bytes() == (ROOT / "exercises" / path.name).read_bytes()
