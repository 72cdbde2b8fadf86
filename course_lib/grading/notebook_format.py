"""The exercise format: markers, cell metadata, and parsing of instructor sources.

One source per exercise, ``solutions/NN_topic.ipynb``, a working, fully solved notebook:

- notebook metadata ``{"course": {"exercise": "NN_topic", "chapter": N, "title": "..."}}``;
- a solution cell has cell metadata ``{"course": {"kind": "solution", "id": "<task-id>"}}`` and
  one or more regions between the lines ``### BEGIN SOLUTION`` and ``### END SOLUTION``;
- a test cell has ``{"course": {"kind": "test", "id": "<test-id>", "points": P}}``; lines between
  ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` are removed from the student copy;
- every other cell is copied unchanged.

Tasks and tests are matched by id, never by cell position.
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)
HIDDEN_PLACEHOLDER = "# (hidden tests run when the notebook is graded)"

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ExerciseFormatError(ValueError):
    """An instructor source that breaks the exercise format (the message says where and how)."""


@dataclass(frozen=True)
class Region:
    """Lines ``begin``..``end`` (0-based, inclusive, marker lines included) of a cell source."""

    begin: int
    end: int
    indent: str


@dataclass(frozen=True)
class TestCell:
    """One graded test cell of the instructor's copy."""

    id: str
    points: float
    source: str
    hidden_lines: frozenset[int]  # 1-based line numbers inside hidden regions (markers too)

    @property
    def has_hidden(self) -> bool:
        return bool(self.hidden_lines)

    def part(self, hidden: bool) -> str:
        """The visible or the hidden lines alone; the others blank, so line numbers stay."""
        return "\n".join(line if ((number in self.hidden_lines) == hidden) else ""
                         for number, line in enumerate(self.source.split("\n"), start=1))


@dataclass(frozen=True)
class Exercise:
    """A parsed instructor source."""

    name: str
    chapter: int
    title: str
    path: Path
    notebook: nbformat.NotebookNode
    tests: tuple[TestCell, ...]
    task_ids: tuple[str, ...]
    cell_ids: frozenset[str] = field(default=frozenset())
    setup_sources: tuple[str, ...] = ()  # code cells without course metadata, in order
    student_names: tuple[str, ...] = ()  # top-level names the solution cells define
    sha256: str = ""  # of the instructor source file: identifies the test set in results

    @property
    def max_score(self) -> float:
        return float(sum(test.points for test in self.tests))


def course_metadata(node: nbformat.NotebookNode) -> dict:
    """The ``course`` metadata dict of a notebook or cell (empty if absent or not a dict)."""
    meta = node.get("metadata", {}).get("course", {})
    return meta if isinstance(meta, dict) else {}


def find_regions(source: str, begin: str, end: str, where: str) -> list[Region]:
    """Regions between ``begin`` and ``end`` marker lines; unbalanced or nested markers raise."""
    regions: list[Region] = []
    start: int | None = None
    indent = ""
    for number, line in enumerate(source.split("\n")):
        stripped = line.strip()
        if stripped == begin:
            if start is not None:
                raise ExerciseFormatError(f"{where}: nested {begin!r} at line {number + 1}")
            start, indent = number, line[: len(line) - len(line.lstrip())]
        elif stripped == end:
            if start is None:
                raise ExerciseFormatError(f"{where}: {end!r} without {begin!r} at line {number + 1}")
            regions.append(Region(start, number, indent))
            start = None
    if start is not None:
        raise ExerciseFormatError(f"{where}: {begin!r} at line {start + 1} is never closed")
    return regions


def replace_regions(source: str, regions: list[Region], make_line) -> str:
    """Replace each region (markers included) by the single line ``make_line(region)``."""
    lines = source.split("\n")
    for region in reversed(regions):
        lines[region.begin : region.end + 1] = [make_line(region)]
    return "\n".join(lines)


def region_lines(source: str, regions: list[Region]) -> list[str]:
    """The lines strictly inside the regions (marker lines excluded)."""
    lines = source.split("\n")
    return [line for r in regions for line in lines[r.begin + 1 : r.end]]


def stub_message(chapter: int, task_number: int, task_id: str) -> str:
    """The text of the NotImplementedError a student sees in place of a solution region."""
    return f"Exercise {chapter}.{task_number}: replace this line with your solution ({task_id})"


def _check_id(value, where: str) -> str:
    if not isinstance(value, str) or not _ID_PATTERN.match(value):
        raise ExerciseFormatError(
            f"{where}: id must be a non-empty string of letters, digits, '_', '-', '.'; got {value!r}"
        )
    return value


def defined_names(source: str, where: str) -> list[str]:
    """Top-level names a cell binds: functions, classes and plain assignments."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise ExerciseFormatError(f"{where}: not valid Python ({error.msg}, line {error.lineno})") from None
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def _check_hidden_last(source: str, hidden: list[Region], where: str) -> None:
    """Hidden tests run after every visible check of the exercise, so they must stand apart:
    one region, unindented, after the cell's last visible line."""
    if not hidden:
        return
    lines = source.split("\n")
    trailing = [line for line in lines[hidden[-1].end + 1 :] if line.strip()]
    if len(hidden) > 1 or hidden[0].indent or trailing:
        raise ExerciseFormatError(
            f"{where}: a test cell may have one {BEGIN_HIDDEN!r} region, unindented, at the end "
            "of the cell (the grader runs hidden checks after all visible ones)")


def parse_exercise(path: Path) -> Exercise:
    """Read and validate an instructor source; raise ExerciseFormatError naming the problem."""
    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    meta = course_metadata(notebook)
    name, chapter, title = meta.get("exercise"), meta.get("chapter"), meta.get("title")
    if name != path.stem:
        raise ExerciseFormatError(
            f"{path}: notebook metadata course.exercise must be {path.stem!r} (the file name), "
            f"got {name!r}"
        )
    if not isinstance(chapter, int) or not isinstance(title, str) or not title:
        raise ExerciseFormatError(f"{path}: metadata course.chapter (int) and course.title (str) needed")
    tests: list[TestCell] = []
    task_ids: list[str] = []
    seen: set[str] = set()
    setup: list[str] = []
    student_names: list[str] = []
    for number, cell in enumerate(notebook.cells, start=1):
        where = f"{path.name} cell {number}"
        cell_meta = course_metadata(cell)
        kind = cell_meta.get("kind")
        source = cell.source
        solutions = find_regions(source, BEGIN_SOLUTION, END_SOLUTION, where)
        hidden = find_regions(source, BEGIN_HIDDEN, END_HIDDEN, where)
        if kind is None:
            if solutions or hidden:
                raise ExerciseFormatError(f"{where}: markers in a cell without course metadata")
            if cell.cell_type == "code":
                setup.append(source)
            continue
        if cell.cell_type != "code":
            raise ExerciseFormatError(f"{where}: only code cells can be solution or test cells")
        cell_id = _check_id(cell_meta.get("id"), where)
        if cell_id in seen:
            raise ExerciseFormatError(f"{where}: duplicate id {cell_id!r}")
        seen.add(cell_id)
        if kind == "solution":
            if hidden or not solutions:
                raise ExerciseFormatError(
                    f"{where}: a solution cell needs {BEGIN_SOLUTION!r} regions and no hidden tests"
                )
            task_ids.append(cell_id)
            student_names += [n for n in defined_names(source, where) if n not in student_names]
        elif kind == "test":
            points = cell_meta.get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
                raise ExerciseFormatError(f"{where}: test points must be a positive number, got {points!r}")
            if solutions:
                raise ExerciseFormatError(f"{where}: solution markers inside a test cell")
            _check_hidden_last(source, hidden, where)
            hidden_lines = frozenset(
                n + 1 for r in hidden for n in range(r.begin, r.end + 1)
            )
            tests.append(TestCell(cell_id, float(points), source, hidden_lines))
        else:
            raise ExerciseFormatError(f"{where}: course.kind must be 'solution' or 'test', got {kind!r}")
    if not tests:
        raise ExerciseFormatError(f"{path}: an exercise needs at least one test cell")
    return Exercise(name, chapter, title, path, notebook, tuple(tests), tuple(task_ids),
                    frozenset(seen), tuple(setup), tuple(student_names),
                    hashlib.sha256(path.read_bytes()).hexdigest())


def load_exercises(solutions_dir: Path) -> dict[str, Exercise]:
    """Every ``*.ipynb`` instructor source in a folder, by exercise name."""
    solutions_dir = Path(solutions_dir)
    if not solutions_dir.is_dir():
        raise FileNotFoundError(f"No solutions folder at {solutions_dir}: pass --solutions DIR")
    return {p.stem: parse_exercise(p) for p in sorted(solutions_dir.glob("*.ipynb"))}
