"""One offline reveal.js deck per chapter, with speaker notes: ``make slides``.

A deck is ``nbconvert --to slides`` of the chapter, with the outputs of the executed edition
(full mode where it is up to date, else quick mode under a visible banner), through the
template in ``site/templates/course_reveal``: reveal.js, its notes plugin, MathJax 3 and
RequireJS come from ``vendor/`` next to the decks, never from a CDN. Press ``s`` on a deck
for the speaker view. Long code cells (tag ``hide-input``) show only their outputs.
"""

from __future__ import annotations

import html
from pathlib import Path

from course_lib.lecture import edition, markup, vendor

TEMPLATES = edition.ROOT / "site" / "templates"
QUICK_BANNER = "quick-mode outputs — not the course's results"


def slide_count(notebook) -> int:
    """How many slides (horizontal and vertical) the deck of ``notebook`` has."""
    types = [markup.slide_type(cell) for cell in notebook.cells]
    shown = [kind for kind in types if kind not in ("skip", "notes")]
    return sum(kind in ("slide", "subslide") for kind in shown)


def banner(mode: str | None) -> str:
    if mode == "full":
        return ""
    if mode == "quick":
        return QUICK_BANNER
    return "not executed: run `make executed` for outputs"


def exporter():
    from nbconvert import SlidesExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.remove_input_tags = {markup.HIDE_INPUT}
    config.TagRemovePreprocessor.enabled = True
    slides = SlidesExporter(config=config, extra_template_basedirs=[str(TEMPLATES)],
                            template_name="course_reveal")
    slides.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    slides.reveal_url_prefix = "vendor/reveal.js"
    slides.require_js_url = "vendor/require.js"
    slides.reveal_theme = "white"  # its font ships with reveal.js; "simple" asks Google
    slides.widget_renderer_url = "vendor/html-manager/embed-amd.js"
    slides.font_awesome_url = ""
    slides.exclude_input_prompt = slides.exclude_output_prompt = True
    return slides


def build(out: Path, build_root: Path | None = None, modes=("full", "quick")) -> dict[str, int]:
    """Write a deck per chapter and an index into ``out``; return slides per deck.

    Each deck takes the first edition in ``modes`` that holds its chapter's current code."""
    out.mkdir(parents=True, exist_ok=True)
    vendor.copy_into(out / "vendor")
    slides = exporter()
    counts, rows = {}, []
    for path in edition.chapters():
        notebook, mode = edition.chapter_with_outputs(path, build_root, modes)
        body, _ = slides.from_notebook_node(notebook, resources={"course_banner": banner(mode)})
        deck = f"{path.stem}.slides.html"
        (out / deck).write_text(body, encoding="utf-8")
        counts[deck] = slide_count(notebook)
        title = notebook.cells[0].source.splitlines()[0].lstrip("# ")
        rows.append(f'<li><a href="{deck}">{html.escape(title)}</a> — {counts[deck]} slides'
                    f'{", " + banner(mode) if banner(mode) else ""}</li>')
    (out / "index.html").write_text(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Sequence Models — slides</title></head><body>\n<h1>Slides</h1>\n"
        "<p>Arrow keys move through a deck; <kbd>s</kbd> opens the speaker notes.</p>\n<ul>\n"
        + "\n".join(rows) + "\n</ul>\n</body></html>\n", encoding="utf-8")
    return counts
