"""The student edition: everything students need, no solution or hidden test, checked by content."""

import json
from pathlib import Path

import pytest

from course_lib.cli import main as course_main
from course_lib.grading import generate, release
from course_lib.grading.notebook_format import load_exercises

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("edition") / "course"
    assert course_main(["release", "students", str(out), "--root", str(ROOT)]) == 0
    return out


def test_the_edition_has_what_students_need_and_no_instructor_material(edition):
    names = {p.name for p in edition.iterdir()}
    assert {"notebooks", "exercises", "course_lib", "tests", "README.md", "Makefile",
            "pyproject.toml", "environment.yml"} <= names
    assert "solutions" not in names and not (edition / "exercises" / "README.md").exists()
    assert not (edition / "tests" / "fixtures" / "grading").exists()
    assert sorted(p.name for p in (edition / "exercises").glob("*.ipynb")) == sorted(
        p.name for p in (ROOT / "solutions").glob("*.ipynb"))
    for path in edition.rglob("*.py"):
        assert "solutions" not in path.read_text(encoding="utf-8") or path.is_relative_to(
            edition / "course_lib"), path
    assert "solutions" not in (edition / "Makefile").read_text()
    assert 'testpaths = ["tests", "notebooks"]' in (edition / "pyproject.toml").read_text()
    assert "student edition" in (edition / "README.md").read_text()


def test_no_secret_line_is_anywhere_in_the_edition(edition):
    """Independently of release.find_leaks: every secret line, searched in every file."""
    public = release.public_lines(ROOT)
    secrets = set()
    for exercise in load_exercises(ROOT / "solutions").values():
        inside, _ = generate.split_lines(exercise)
        secrets |= inside
    secrets -= public
    for exercise in load_exercises(ROOT / "solutions").values():
        secrets -= generate.split_lines(exercise)[1]
    assert len(secrets) > 300  # the solutions and hidden tests of eleven chapters
    for path in edition.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".ipynb", ".md", ".toml", ".yml", ""):
            text = path.read_text(encoding="utf-8")
            cells = json.loads(text)["cells"] if path.suffix == ".ipynb" else []
            lines = {line.strip() for line in text.split("\n")}
            lines |= {line.strip() for c in cells for line in "".join(c["source"]).split("\n")}
            assert not secrets & lines, (path, sorted(secrets & lines)[:3])


def test_a_planted_secret_is_found_wherever_it_hides(edition, tmp_path):
    exercise = load_exercises(ROOT / "solutions")["01_ngram_language_models"]
    secret = sorted(generate.secret_lines(exercise) - release.public_lines(ROOT))[0]
    notebook = edition / "exercises" / "01_ngram_language_models.ipynb"
    original = notebook.read_text()
    data = json.loads(original)
    data["cells"][1]["source"].append("\n    " + secret)
    notebook.write_text(json.dumps(data, indent=1))
    module = edition / "course_lib" / "text.py"
    module_text = module.read_text()
    module.write_text(module_text + "\n# " + secret + "\n" + secret + "\n")
    try:
        leaks = release.find_leaks(edition, ROOT / "solutions", release.public_lines(ROOT))
        assert f"exercises/01_ngram_language_models.ipynb: {secret}" in leaks
        assert f"course_lib/text.py: {secret}" in leaks
    finally:
        notebook.write_text(original)
        module.write_text(module_text)
    assert release.find_leaks(edition, ROOT / "solutions", release.public_lines(ROOT)) == []


def test_release_refuses_a_used_folder_or_one_inside_the_repository(tmp_path, capsys):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("x")
    assert course_main(["release", "students", str(tmp_path / "used"), "--root", str(ROOT)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert course_main(["release", "students", str(ROOT / "build" / "students"),
                        "--root", str(ROOT)]) == 1
    assert "inside the repository" in capsys.readouterr().err
