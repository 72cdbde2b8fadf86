"""Generate student notebooks from instructor sources, and check that they are up to date.

``build_all`` writes ``exercises/NN_topic.ipynb`` for every ``solutions/NN_topic.ipynb``:
solution regions become a stub raising ``NotImplementedError("Exercise N.k: ...")``, hidden
test regions are removed, outputs and execution counts are dropped, and the course metadata
(exercise name, task and test ids) is kept so the grader can match cells by id. The output is
deterministic: rebuilding writes byte-identical files.

``check_all`` lists every way ``exercises/`` differs from what ``build_all`` would write
(missing, extra or stale files) and every solution or hidden-test line found in it.
"""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import nbformat

from course_lib.grading.notebook_format import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    END_HIDDEN,
    END_SOLUTION,
    HIDDEN_PLACEHOLDER,
    MARKERS,
    Exercise,
    ExerciseFormatError,
    course_metadata,
    find_regions,
    load_exercises,
    region_lines,
    replace_regions,
    stub_message,
)

# A region line shorter than this (after stripping) is too generic to call a leak ("pass").
_MIN_LEAK_LINE = 5


def student_notebook(exercise: Exercise) -> nbformat.NotebookNode:
    """The student version of an exercise (a new notebook; the source is not modified)."""
    notebook = copy.deepcopy(exercise.notebook)
    task_number = 0
    for number, cell in enumerate(notebook.cells, start=1):
        where = f"{exercise.path.name} cell {number}"
        if "id" in cell:
            cell.id = str(number - 1)  # position ids, as nbstripout writes them
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "ExecuteTime", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        meta = course_metadata(cell)
        if meta.get("kind") == "solution":
            task_number += 1
            message = stub_message(exercise.chapter, task_number, meta["id"])
            regions = find_regions(cell.source, BEGIN_SOLUTION, END_SOLUTION, where)
            cell.source = replace_regions(
                cell.source, regions,
                lambda r, m=message: f"{r.indent}raise NotImplementedError({json.dumps(m)})",
            )
        elif meta.get("kind") == "test":
            regions = find_regions(cell.source, BEGIN_HIDDEN, END_HIDDEN, where)
            # Hidden regions are unindented and last (parse_exercise checks it).
            cell.source = replace_regions(cell.source, regions, lambda r: HIDDEN_PLACEHOLDER)
            # The grader runs the instructor's copy anyway; this only prevents accidents.
            cell.metadata["editable"] = False
            cell.metadata["deletable"] = False
        if cell.cell_type == "code" and meta.get("kind") in ("solution", "test"):
            try:
                ast.parse(cell.source)
            except SyntaxError as error:
                raise ExerciseFormatError(
                    f"{where}: the student version is not valid Python ({error.msg}, line "
                    f"{error.lineno}); put whole statements inside the regions"
                ) from None
    return notebook


def student_text(exercise: Exercise) -> str:
    """The exact bytes (as text) of the student notebook file."""
    return nbformat.writes(student_notebook(exercise)) + "\n"


def build_all(solutions_dir: Path, exercises_dir: Path) -> list[Path]:
    """Write the student notebook of every instructor source; return the paths written.

    Files in ``exercises_dir`` without a source are left alone (``check_all`` reports them).
    """
    exercises = load_exercises(solutions_dir)
    exercises_dir = Path(exercises_dir)
    exercises_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, exercise in exercises.items():
        target = exercises_dir / f"{name}.ipynb"
        target.write_text(student_text(exercise), encoding="utf-8")
        written.append(target)
    return written


def _significant(line: str) -> str:
    stripped = line.strip()
    return "" if stripped.startswith("#") or len(stripped) < _MIN_LEAK_LINE else stripped


def split_lines(exercise: Exercise) -> tuple[set[str], set[str]]:
    """(significant lines inside solution and hidden regions, stripped lines outside them)."""
    inside: set[str] = set()
    outside: set[str] = set()
    for number, cell in enumerate(exercise.notebook.cells, start=1):
        where = f"{exercise.path.name} cell {number}"
        regions = (find_regions(cell.source, BEGIN_SOLUTION, END_SOLUTION, where)
                   + find_regions(cell.source, BEGIN_HIDDEN, END_HIDDEN, where))
        inside.update(filter(None, map(_significant, region_lines(cell.source, regions))))
        outside.update(line.strip() for line in replace_regions(cell.source, regions,
                                                                lambda r: "").split("\n"))
    return inside, outside


def secret_lines(exercise: Exercise) -> set[str]:
    """The solution and hidden-test lines of ``exercise`` that students must never see.

    A region line counts unless it is a comment, very short ("pass", "x"), or also appears
    outside the regions of the instructor source (a line legitimately repeated in the scaffold
    or a visible test is not a secret)."""
    inside, outside = split_lines(exercise)
    return inside - outside


def leaked_lines(exercise: Exercise, student_sources: list[str]) -> list[str]:
    """Secret lines of ``exercise`` (``secret_lines``) that appear in the student sources;
    marker lines in the student sources always count."""
    secret = secret_lines(exercise)
    found = []
    for source in student_sources:
        for line in source.split("\n"):
            stripped = line.strip()
            if stripped in secret or stripped in MARKERS:
                found.append(stripped)
    return sorted(set(found))


def check_all(solutions_dir: Path, exercises_dir: Path) -> list[str]:
    """Problems with ``exercises_dir`` (empty list: it is exactly what ``build_all`` writes)."""
    exercises_dir = Path(exercises_dir)
    try:
        exercises = load_exercises(solutions_dir)
    except (ExerciseFormatError, FileNotFoundError) as error:
        return [f"cannot read the instructor sources: {error}"]
    problems = []
    on_disk = {p.stem: p for p in exercises_dir.glob("*.ipynb")} if exercises_dir.is_dir() else {}
    for name in sorted(set(on_disk) - set(exercises)):
        problems.append(f"{on_disk[name]}: extra file, no source {Path(solutions_dir) / (name + '.ipynb')}")
    for name, exercise in exercises.items():
        target = exercises_dir / f"{name}.ipynb"
        if name not in on_disk:
            problems.append(f"{target}: missing (source {exercise.path})")
            continue
        text = target.read_text(encoding="utf-8")
        if text != student_text(exercise):
            problems.append(f"{target}: stale, differs from what `course exercises build` writes")
        try:
            sources = [cell.source for cell in nbformat.reads(text, as_version=4).cells]
        except Exception as error:  # noqa: BLE001 - any unreadable file is one problem to report
            problems.append(f"{target}: not a readable notebook ({type(error).__name__}: {error})")
            continue
        for line in leaked_lines(exercise, sources):
            problems.append(f"{target}: leaked solution or hidden-test line: {line!r}")
    return problems
