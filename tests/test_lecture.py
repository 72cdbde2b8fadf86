"""The lecture edition without a browser: slide markup, the executed edition's bookkeeping,
deck slide counts and the site's sources."""

import json
import re
from pathlib import Path

import nbformat
import pytest

from course_lib.lecture import edition, markup, site, slides

CHAPTERS = edition.chapters()


def test_there_are_chapters():
    assert len(CHAPTERS) >= 11


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.stem)
def test_every_chapter_is_marked_up_for_slides(path):
    assert markup.problems(path) == []


def test_problems_are_reported():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("\n".join(f"x{i} = {i}" for i in range(30))),
    ])
    notebook.cells[0].metadata["slideshow"] = {"slide_type": "fragment"}
    found = "\n".join(markup.problems(_write(notebook)))
    assert "first cell must open a slide" in found
    assert "slide_type None" in found
    assert "no speaker notes" in found


def test_mark_up_fills_only_missing_metadata(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title\n\ngoals"),
        nbformat.v4.new_code_cell("import torch"),
        nbformat.v4.new_markdown_cell("## A section"),
        nbformat.v4.new_code_cell("\n".join(f"x{i} = {i}" for i in range(20))),
        nbformat.v4.new_markdown_cell("\n".join(["why this works"] * 12)),
        nbformat.v4.new_code_cell("print(1)"),
    ])
    notebook.cells[5].metadata["slideshow"] = {"slide_type": "fragment"}  # a hand edit
    path = _write(notebook, tmp_path)
    assert markup.mark_up(path) == 5
    cells = nbformat.read(path, as_version=4).cells
    assert [markup.slide_type(cell) for cell in cells] == [
        "slide", "skip", "slide", "subslide", "notes", "fragment"]
    assert cells[3].metadata["tags"] == [markup.HIDE_INPUT]
    assert markup.mark_up(path) == 0
    assert markup.problems(path) == []


def test_slide_count_counts_slides_and_subslides_shown():
    types = ["slide", "skip", "-", "subslide", "fragment", "notes", "slide", "subslide"]
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(kind, metadata={"slideshow": {"slide_type": kind}})
        for kind in types])
    assert slides.slide_count(notebook) == 4


def test_content_hash_follows_code_and_mode_only():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("text"), nbformat.v4.new_code_cell("x = 1")])
    before = edition.content_hash(notebook, "quick")
    notebook.cells[0].source = "other text"
    notebook.cells[1].metadata["slideshow"] = {"slide_type": "skip"}
    assert edition.content_hash(notebook, "quick") == before
    assert edition.content_hash(notebook, "full") != before
    notebook.cells[1].source = "x = 2"
    assert edition.content_hash(notebook, "quick") != before


def _write(notebook, folder: Path | None = None, name: str = "00_toy.ipynb") -> Path:
    import tempfile

    folder = folder or Path(tempfile.mkdtemp())
    path = folder / name
    nbformat.write(notebook, path)
    return path


@pytest.mark.slow  # executes notebooks
def test_edition_reruns_only_changed_chapters_and_resumes(tmp_path):
    sources = tmp_path / "notebooks"
    sources.mkdir()
    first = _write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# First"),
        nbformat.v4.new_code_cell("import os\nprint('quick' if os.environ.get('COURSE_QUICK') "
                                  "else 'full')")]), sources, "00_first.ipynb")
    second = _write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("raise RuntimeError('interrupted')")]), sources, "01_second.ipynb")
    paths, log = [first, second], []
    with pytest.raises(Exception, match="interrupted"):
        edition.build("quick", build_root=tmp_path, sources=paths, log=log.append)
    folder = edition.edition_dir("quick", tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert list(manifest) == ["00_first"]  # kept although the build stopped after it
    assert manifest["00_first"]["mode"] == "quick" and manifest["00_first"]["seconds"] > 0
    assert manifest["00_first"]["device"].startswith(("cpu", "cuda", "mps"))
    run = nbformat.read(folder / "notebooks" / "00_first.ipynb", as_version=4)
    assert run.cells[1].outputs[0]["text"] == "quick\n"

    second.write_text(nbformat.writes(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print(2)")])))
    log.clear()
    manifest = edition.build("quick", build_root=tmp_path, sources=paths, log=log.append)
    assert any("00_first: up to date" in line for line in log)  # resumed, not re-run
    assert any("01_second: running" in line for line in log)
    assert set(manifest) == {"00_first", "01_second"}

    # A text-only edit keeps the outputs, laid onto today's cells; a code edit drops them.
    notebook = nbformat.read(first, as_version=4)
    notebook.cells[0].source = "# First, retitled"
    nbformat.write(notebook, first)
    laid, found = edition.executed_notebook(first, folder)
    assert found and laid.cells[0].source == "# First, retitled"
    assert laid.cells[1].outputs[0]["text"] == "quick\n"
    notebook.cells[1].source = "print('changed')"
    nbformat.write(notebook, first)
    assert edition.executed_notebook(first, folder)[1] is False
    log.clear()
    edition.build("quick", build_root=tmp_path, sources=paths, log=log.append)
    assert [line.split(":")[0] for line in log if "running" in line] == ["00_first"]


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        edition.edition_dir("medium")


def test_results_table_comes_from_the_readme():
    page = site.results_table()
    assert page.startswith("# Results")
    assert "| model | data | figure | reference |" in page
    assert "Kneser-Ney" in page


def test_results_table_needs_its_section(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Course\n\nno results here\n")
    with pytest.raises(ValueError, match="Results so far"):
        site.results_table(readme)


def test_diagrams_draw_labelled_figures():
    import matplotlib

    matplotlib.use("Agg")
    import torch

    from course_lib import diagrams

    figures = {
        "unrolled_rnn": diagrams.unrolled_rnn(steps=3),
        "lstm_cell": diagrams.lstm_cell(),
        "encoder_decoder": diagrams.encoder_decoder(),
        "attention_alignment": diagrams.attention_alignment(
            torch.softmax(torch.randn(2, 3), dim=-1), ["ein", "Hund", "<eos>"], ["a", "dog"]),
        "transformer_block": diagrams.transformer_block(),
    }
    for name, figure in figures.items():
        texts = [text.get_text() for text in figure.axes[0].texts]
        assert figure.axes[0].get_title(), f"{name} has no title"
        assert len(texts) >= 5, f"{name} has too few labels: {texts}"
    assert "$h_{T}$\ntanh" in [t.get_text() for t in figures["unrolled_rnn"].axes[0].texts]
    assert "Hund" in [t.get_text() for t in figures["encoder_decoder"].axes[0].texts]


def test_attention_diagram_refuses_mismatched_weights():
    import torch

    from course_lib import diagrams

    with pytest.raises(ValueError, match="len\\(target\\), len\\(source\\)"):
        diagrams.attention_alignment(torch.ones(2, 2) / 2, ["a", "b", "c"], ["x", "y"])


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.stem)
def test_every_figure_has_a_caption_and_alt_text(path):
    """A cell that shows a figure carries mystnb.figure.caption and mystnb.image.alt, which
    the site and the decks both read."""
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "code" and "plt.show()" in cell.source:
            meta = cell.metadata.get("mystnb", {})
            caption = meta.get("figure", {}).get("caption", "")
            alt = meta.get("image", {}).get("alt", "")
            assert len(caption) > 30 and len(alt) > 30, f"{path.name} cell {index}: no caption/alt"


def _predict_questions(path: Path) -> int:
    """How many numbered questions the chapter's "predict" section asks (0 when none)."""
    for cell in nbformat.read(path, as_version=4).cells:
        heading = cell.source.splitlines()[0].lower() if cell.source else ""
        if cell.cell_type == "markdown" and heading.startswith("#") and re.search(r"\bpredict\b", heading):
            section = re.split(r"\n#+ ", cell.source)[0]
            return len(re.findall(r"^\d+\. ", section, re.M))
    return 0


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.stem)
def test_teaching_guide_covers_the_chapter(path):
    guide = edition.ROOT / "site" / "guide" / f"{path.stem}.md"
    assert guide.exists(), f"no teaching guide page for {path.name}"
    text = guide.read_text(encoding="utf-8")
    assert not re.search(r"\bTODO\b|\bTBD\b|FIXME", text)
    for section in ("## Lecture plan", "## Mistakes students make", "## Learning goals"):
        assert section in text, f"{guide.name} lacks {section!r}"
    minutes = [int(end) for end in re.findall(r"^\| \d+–(\d+) \|", text, re.M)]
    assert minutes == sorted(minutes) and 50 <= minutes[-1] <= 75, minutes
    questions = _predict_questions(path)
    if questions:
        answers = text.split("answers\n", 1)[1].split("\n## ", 1)[0]
        assert len(re.findall(r"^\d+\. \*\*", answers, re.M)) == questions, guide.name


@pytest.mark.slow  # executes notebooks
def test_parallel_build_keeps_every_finished_chapter(tmp_path):
    sources = tmp_path / "notebooks"
    sources.mkdir()
    paths = [_write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), sources,
                    f"0{i}_toy.ipynb")
             for i, code in enumerate(["print(0)", "raise ValueError('broken chapter')", "print(2)"])]
    with pytest.raises(Exception, match="broken chapter"):
        edition.build("quick", build_root=tmp_path, sources=paths, jobs=2, log=lambda line: None)
    manifest = edition.read_manifest(edition.edition_dir("quick", tmp_path))
    assert set(manifest) == {"00_toy", "02_toy"}
    assert manifest["02_toy"]["parallel_chapters"] == 2


def test_full_mode_runs_one_chapter_at_a_time():
    with pytest.raises(ValueError, match="only quick mode"):
        edition.build("full", jobs=2)
