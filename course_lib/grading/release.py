"""``course release students OUT``: the student edition of the course, without solutions.

Instructors keep this repository (solutions, hidden tests, the grader's test suite); students
get the edition: the chapters, the exercise notebooks, ``course_lib``, the tests that run
without solutions, the set-up files and a student README. It is built from an allow-list, so
nothing new in the repository reaches students by accident, and then **checked by content**:
every secret line of every exercise (solution regions and hidden tests, see
``generate.secret_lines``) is searched for in every file written, notebooks' cells included.
A secret line that also appears in the repository's public material (``course_lib``, the
chapters, the tests that need no solutions) is no leak: most are the library the hidden tests
compare against, or everyday lines such as ``for t in range(T):``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from course_lib.grading import generate
from course_lib.grading.notebook_format import load_exercises

# What students get, relative to the repository root. Test and benchmark files that need the
# solutions are left out by content (they name the folder).
INCLUDED = ("notebooks", "exercises", "course_lib", "tests", "benchmarks", "pyproject.toml",
            "environment.yml", "Makefile", "conftest.py", ".gitignore")
INSTRUCTOR_ONLY = ("exercises/README.md", "tests/fixtures/grading")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")

STUDENT_README = """\
# Sequence Models, from n-grams to Transformers — student edition

A runnable course in Jupyter notebooks: n-gram language models and hidden Markov models, words
as vectors, convolutional and recurrent networks, LSTMs and GRUs, seq2seq, attention and
Transformers, on real corpora. The companion package `course_lib` holds the shared model code.

## Set-up

On a machine with Python >= 3.11 and `make`:

```bash
make lab    # creates .venv if missing (torch first, then the course), opens JupyterLab
make test   # the same set-up, then lint and the tests of course_lib and the chapters
```

Without network access, point `COURSE_DATA_DIR` at a folder holding the corpora (ask your
instructor); `COURSE_QUICK=1` runs every chapter in about a minute.

## Chapters and exercises

Read the chapters in `notebooks/` in order. Each chapter has an exercise notebook in
`exercises/` with the same number. Replace every `raise NotImplementedError(...)` line with your
code and run the test cells below each task to check yourself. When you submit, the grader
runs your notebook top to bottom in a fresh, sandboxed kernel and then runs the tests again
**plus hidden tests** that try other inputs; each test cell earns its points when all of its
checks pass. Keep the function names and signatures, and restart and run all before you submit.

What the grader does with your notebook: your cells run in a sandbox (no network, no files of
the instructor's, limited memory and time); the tests run in the grader's own process and call
your functions, which must return plain data (numbers, strings, lists, tuples, dicts, tensors,
numpy arrays). A failed hidden test reports only the kind of error, never its inputs.
"""


class ReleaseError(RuntimeError):
    """The edition cannot be written (the message says why)."""


def _needs_solutions(path: Path) -> bool:
    return path.suffix == ".py" and "solutions" in path.read_text(encoding="utf-8")


def _copy(root: Path, out: Path) -> None:
    for name in INCLUDED:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, out / name, ignore=_IGNORED)
        elif source.is_file():
            shutil.copy2(source, out / name)
    for name in INSTRUCTOR_ONLY:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        target.unlink(missing_ok=True)
    for folder in ("tests", "benchmarks"):
        for path in sorted((out / folder).rglob("*.py")):
            if _needs_solutions(path):
                path.unlink()


def _student_setup_files(out: Path) -> None:
    """The Makefile and pytest settings, without the steps that need the solutions."""
    makefile = out / "Makefile"
    if makefile.exists():
        lines = [line.replace(" solutions/*.ipynb", "").replace(" notebooks solutions", " notebooks")
                 for line in makefile.read_text(encoding="utf-8").split("\n")]
        kept = [line for line in lines if "solutions" not in line and "exercises check" not in line]
        makefile.write_text("\n".join(kept), encoding="utf-8")
    pyproject = out / "pyproject.toml"
    if pyproject.exists():
        text = pyproject.read_text(encoding="utf-8")
        old = 'testpaths = ["tests", "notebooks", "solutions"]'
        if old not in text:
            raise ReleaseError(f"pyproject.toml has no line {old!r} to adapt for students")
        pyproject.write_text(text.replace(old, 'testpaths = ["tests", "notebooks"]'),
                             encoding="utf-8")
    (out / "README.md").write_text(STUDENT_README, encoding="utf-8")


def _texts(path: Path) -> list[str]:
    """The text of a file, and for a notebook also each cell's source (JSON escapes quotes)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return []
    texts = [text]
    if path.suffix == ".ipynb":
        try:
            texts += ["".join(c.get("source", "")) for c in json.loads(text).get("cells", [])]
        except (json.JSONDecodeError, AttributeError, TypeError):
            pass
    return texts


def public_lines(root: Path) -> set[str]:
    """Stripped lines of the repository's own public material: course_lib, the chapters, and
    the tests and benchmarks that do not need the solutions (not the exercise notebooks: they
    are made from the solutions, so they are what is checked, not what is trusted)."""
    lines: set[str] = set()
    for folder, pattern in (("course_lib", "*.py"), ("notebooks", "*.ipynb"), ("tests", "*.py"),
                            ("benchmarks", "*.py")):
        for path in sorted((root / folder).rglob(pattern)):
            if folder in ("tests", "benchmarks") and _needs_solutions(path):
                continue
            for text in _texts(path):
                lines.update(line.strip() for line in text.split("\n"))
    return lines


def find_leaks(out: Path, solutions: Path, public: set[str]) -> list[str]:
    """``path: line`` for every secret line of the exercises in ``solutions`` found in ``out``."""
    secrets: set[str] = set()
    for exercise in load_exercises(solutions).values():  # a scaffold line of one exercise
        inside, outside = generate.split_lines(exercise)  # is public in all of them
        secrets |= inside
        public = public | outside
    secrets -= public
    leaks = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        for text in _texts(path):
            stripped = {line.strip() for line in text.split("\n")}
            leaks += [f"{path.relative_to(out)}: {line}" for line in sorted(secrets & stripped)]
    if any(p.name == "solutions" for p in out.rglob("*")):
        leaks.append("a folder named solutions")
    return sorted(set(leaks))


def release_students(root: Path, out: Path) -> list[Path]:
    """Write the student edition of the repository at ``root`` into ``out`` (new or empty);
    ReleaseError if it would leak a solution or hidden test. Returns the files written."""
    root, out = Path(root).resolve(), Path(out).resolve()
    if out.exists() and any(out.iterdir()):
        raise ReleaseError(f"{out} is not empty: give a new or empty folder")
    if out.is_relative_to(root):
        raise ReleaseError(f"{out} is inside the repository: write the edition elsewhere")
    out.mkdir(parents=True, exist_ok=True)
    _copy(root, out)
    _student_setup_files(out)
    leaks = find_leaks(out, root / "solutions", public_lines(root))
    if leaks:
        shutil.rmtree(out)
        raise ReleaseError("the edition would leak solutions or hidden tests; nothing was "
                           "written:\n  " + "\n  ".join(leaks[:20]))
    return sorted(p for p in out.rglob("*") if p.is_file())
