"""Hostile submissions against the sandboxed grader, on the exercises of chapters 00, 01 and 02.

Each chapter's cases (``adversary.py``: four honest controls and the attacks; the slow ones on
the machine itself only for chapter 02) are graded as one class,
two at a time, through ``course grade`` as an instructor runs it. Then, for every case:

- the exact score: what its honest part earns, never more;
- no hidden-test or solution line, and no hidden input value, in any file the grader wrote;
- nothing written outside ``--out`` (the solutions copy unchanged, no file left in TMPDIR, the
  file an attack tried to plant through a symlink absent), and results unchanged after the
  attacks' delayed writers would have fired;
- no process an attack started is alive after the run;
- the gradebook lists every submission.
"""

import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from adversary import MARKER, ROOT, VICTIM, build, chapter_cases

from course_lib.cli import build_parser
from course_lib.grading import generate, sandbox
from course_lib.grading.notebook_format import load_exercises

pytestmark = pytest.mark.slow

# Values that only hidden tests pass to the student's functions.
HIDDEN_VALUES = {"00_setup_and_tour": ["'mat'", "'log'", "nothing at all"],
                 "01_ngram_language_models": ["'w3'", "'w5'"],
                 "02_hidden_markov_models": []}


def _tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _processes_with(marker: str) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(cmdline.decode(errors="replace"))
    return found


def _secret_lines(chapter: str) -> list[str]:
    """Significant lines of the solution regions and hidden tests that students never see."""
    return sorted(generate.secret_lines(load_exercises(ROOT / "solutions")[chapter]))


@pytest.fixture(scope="module", params=sorted(HIDDEN_VALUES))
def graded_class(request, tmp_path_factory):
    sandbox.probe()  # CI installs bubblewrap: without it this suite must fail, not skip
    chapter = request.param
    work = tmp_path_factory.mktemp(chapter)
    solutions = work / "solutions"
    shutil.copytree(ROOT / "solutions", solutions)
    before = _tree_hash(solutions)
    submissions = work / "submissions"
    submissions.mkdir()
    cases = {case.name: case for case in chapter_cases(chapter)}
    for name, case in cases.items():
        nbformat.write(build(chapter, case), submissions / f"{name}.ipynb")
    (submissions / "folder-named.ipynb").mkdir()  # not a file: skipped, and no worker storm
    out, tmp = work / "out", work / "tmp"
    tmp.mkdir()
    old_cwd, old_tmp = os.getcwd(), os.environ.get("TMPDIR")
    os.chdir(work)
    os.environ["TMPDIR"] = str(tmp)
    try:
        args = build_parser().parse_args([
            "grade", str(submissions), "--solutions", str(solutions), "--exercise", chapter,
            "--out", str(out), "--jobs", "2"])
        status = args.run(args)
    finally:
        os.chdir(old_cwd)
        if old_tmp is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = old_tmp
    alive = _processes_with(MARKER)
    results = {name: json.loads((out / name / "result.json").read_text()) for name in cases}
    snapshot = _tree_hash(out)
    time.sleep(5)  # the delayed writers of the attacks would have fired by now
    return {"chapter": chapter, "cases": cases, "results": results, "status": status,
            "alive": alive, "work": work, "out": out, "tmp": tmp, "solutions_before": before,
            "solutions_after": _tree_hash(solutions), "out_before": snapshot,
            "out_after": _tree_hash(out)}


def test_every_case_gets_exactly_its_honest_score(graded_class):
    wrong = {name: (result["score"], graded_class["cases"][name].score, result["status"],
                    [t["message"] for t in result["tests"]], result["cell_problems"][-2:])
             for name, result in graded_class["results"].items()
             if result["score"] != graded_class["cases"][name].score}
    assert wrong == {}
    assert all(r["status"] == "graded" for r in graded_class["results"].values())
    assert graded_class["status"] == 0
    assert len(graded_class["cases"]) >= 20


def test_at_least_forty_hostile_submissions_over_three_chapters():
    hostile = [case for chapter in HIDDEN_VALUES for case in chapter_cases(chapter)
               if not case.name.startswith("control-")]
    assert len(hostile) >= 40 and len(HIDDEN_VALUES) >= 3


def test_the_gradebook_lists_every_submission(graded_class):
    rows = (graded_class["out"] / "gradebook.csv").read_text().splitlines()
    assert sorted(row.split(",")[0] for row in rows[1:]) == sorted(graded_class["cases"])


def test_no_hidden_text_in_any_output(graded_class):
    secrets = _secret_lines(graded_class["chapter"]) + HIDDEN_VALUES[graded_class["chapter"]]
    assert len(secrets) >= 2
    for path in graded_class["out"].rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            found = [s for s in secrets
                     if re.search(r"(?<!\w)" + re.escape(s) + r"(?!\w)", text)]
            assert found == [], path


def test_hidden_failures_name_only_a_builtin_exception(graded_class):
    for result in graded_class["results"].values():
        for test in result["tests"]:
            assert len(test["message"]) <= 300
            if test["message"].startswith("hidden test failed: "):
                name = test["message"].removeprefix("hidden test failed: ")
                assert isinstance(getattr(__builtins__, name, None) if not isinstance(
                    __builtins__, dict) else __builtins__.get(name), type), name


def test_nothing_is_written_outside_out_and_nothing_survives(graded_class):
    assert graded_class["solutions_after"] == graded_class["solutions_before"]
    assert graded_class["out_after"] == graded_class["out_before"]
    assert list(graded_class["tmp"].iterdir()) == []
    assert sorted(p.name for p in graded_class["work"].iterdir()) == [
        "out", "solutions", "submissions", "tmp"]
    assert not list(Path("/").glob(f"tmp/**/{VICTIM}"))
    assert graded_class["alive"] == []
    assert _processes_with(MARKER) == []


def test_every_result_records_the_sandbox_and_what_was_graded(graded_class):
    for name, result in graded_class["results"].items():
        assert result["sandbox"].startswith("bubblewrap"), result["sandbox"]
        assert result["tests_sha256"] == hashlib.sha256(
            (ROOT / "solutions" / f"{graded_class['chapter']}.ipynb").read_bytes()).hexdigest()
        submitted = graded_class["work"] / "submissions" / f"{name}.ipynb"
        assert result["submission_sha256"] == hashlib.sha256(submitted.read_bytes()).hexdigest()
