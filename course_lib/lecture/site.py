"""The offline course site: ``make site`` writes ``build/site/student`` and ``.../instructor``.

Sphinx with MyST-NB and the book theme (all from PyPI; nothing is fetched while building or
reading). The sources are laid out afresh in ``build/site/_src/<edition>`` from:

- ``notebooks/``: the chapters, with the executed edition's outputs (full mode where it is up
  to date, else quick mode under a banner saying so);
- ``exercises/``: the student notebooks as students receive them (never ``solutions/``);
- ``README.md``: the results table, read from its "Results so far" section;
- ``site/``: the Sphinx configuration, the introduction and, for the instructor build only,
  ``site/guide/`` (the teaching guide) and ``exercises/README.md`` (grading).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from course_lib.lecture import edition, slides, vendor

ROOT = edition.ROOT
SITE = ROOT / "site"
EDITIONS = ("student", "instructor")


def results_table(readme: Path = ROOT / "README.md") -> str:
    """The README's "Results so far" section, as a page (its single source stays README)."""
    text = readme.read_text(encoding="utf-8")
    match = re.search(r"^### Results so far.*?\n(.*?)(?=^#{2,3} )", text, re.S | re.M)
    if match is None:
        raise ValueError(f"{readme} has no '### Results so far' section to publish")
    return "# Results\n\nFull-mode figures, the same splits in every chapter.\n\n" + match[1]


def chapter_page(path: Path, build_root: Path | None, modes) -> nbformat.NotebookNode:
    notebook, mode = edition.chapter_with_outputs(path, build_root, modes)
    note = slides.banner(mode)
    if note:
        notebook.cells.insert(1, nbformat.v4.new_markdown_cell(f":::{{warning}}\n{note}\n:::"))
    return notebook


def toctree(caption: str, entries: list[str]) -> str:
    lines = "\n".join(entries)
    return f"```{{toctree}}\n:caption: {caption}\n:maxdepth: 1\n\n{lines}\n```\n"


def lay_out(source: Path, which: str, build_root: Path | None, modes) -> None:
    """Write the Sphinx sources of edition ``which`` into ``source``."""
    if source.exists():
        shutil.rmtree(source)
    (source / "chapters").mkdir(parents=True)
    for name in ("conf.py", "favicon.svg"):
        shutil.copy2(SITE / name, source / name)
    vendor.copy_into(source / "_vendor", ("mathjax", "require.js", "html-manager"))
    chapters = []
    for path in edition.chapters():
        nbformat.write(chapter_page(path, build_root, modes), source / "chapters" / path.name)
        chapters.append(f"chapters/{path.stem}")
    (source / "results.md").write_text(results_table(), encoding="utf-8")
    exercises = source / "exercises"
    exercises.mkdir()
    shutil.copy2(SITE / "exercises.md", exercises / "index.md")
    pages = []
    for path in sorted((ROOT / "exercises").glob("[0-9][0-9]_*.ipynb")):
        shutil.copy2(path, exercises / path.name)
        pages.append(path.stem)
    with (exercises / "index.md").open("a", encoding="utf-8") as index:
        index.write("\n" + toctree("Exercise notebooks", pages))
    parts = [toctree("Chapters", chapters), toctree("Course", ["results", "exercises/index"])]
    title = "Sequence Models, from n-grams to Transformers"
    if which == "instructor":
        shutil.copytree(SITE / "guide", source / "guide")
        shutil.copy2(ROOT / "exercises" / "README.md", source / "guide" / "grading.md")
        parts.append(toctree("Instructors", ["guide/index", "guide/grading"]))
        title += " — instructor edition"
    intro = (SITE / "intro.md").read_text(encoding="utf-8")
    (source / "index.md").write_text(f"# {title}\n\n{intro}\n" + "\n".join(parts),
                                     encoding="utf-8")


def build(out: Path, build_root: Path | None = None, editions=EDITIONS,
          modes=("full", "quick")) -> dict[str, int]:
    """Build each edition into ``out/<edition>``; return the number of HTML pages of each.

    Chapters take their outputs from the first executed edition in ``modes`` that is current."""
    pages = {}
    for which in editions:
        source, html = out / "_src" / which, out / which
        lay_out(source, which, build_root, modes)
        env = dict(os.environ, COURSE_SITE_EDITION=which)
        subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W",
                        "--keep-going", "-j", "1", str(source), str(html)], check=True, env=env)
        pages[which] = len(list(html.rglob("*.html")))
    return pages
