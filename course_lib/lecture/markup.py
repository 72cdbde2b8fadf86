"""Slide metadata on the chapter notebooks: what each cell is on a slide.

Every chapter cell carries ``metadata.slideshow.slide_type`` (the key that JupyterLab's
property inspector, RISE and ``nbconvert --to slides`` all read). The values:

- ``slide``: a new horizontal slide (a ``#`` or ``##`` heading);
- ``subslide``: a new vertical slide under the current one (``###``, a new code step);
- ``fragment``: appears on the current slide at the next key press;
- ``-``: continues the current slide;
- ``skip``: not on the slides (setup cells, the closing timer);
- ``notes``: speaker notes (long explanations the lecturer says rather than shows).

Long code cells get the tag ``hide-input``: the slides show only their results and figures,
the site folds their code behind a toggle. ``mark_up`` gives a value only to cells that have
none, so an instructor's hand edits stay; ``problems`` lists what a chapter lacks.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "skip", "notes")
HIDE_INPUT = "hide-input"
# A code cell longer than this many lines shows only its outputs on a slide.
LONG_CODE_LINES = 15
# A markdown cell (not a heading) longer than this many lines becomes speaker notes.
LONG_PROSE_LINES = 8


def default_slide_type(cell, previous_type: str | None, index: int) -> str:
    """The slide type the rules give ``cell``, the cell at ``index`` after ``previous_type``."""
    source = cell.source.strip()
    lines = source.count("\n") + 1
    if cell.cell_type == "markdown":
        if re.match(r"#{1,2} Setup\s*$", source):
            return "skip"  # a bare "## Setup" heading over the skipped setup cells
        if index == 0 or re.match(r"#{1,2} ", source):
            return "slide"
        if source.startswith("### "):
            return "subslide"
        return "notes" if lines > LONG_PROSE_LINES else "fragment"
    if cell.cell_type != "code":
        return "skip"
    if index <= 3 and re.match(r"(import|from) ", source):
        return "skip"  # the setup cells: imports, seeds, the device
    if "chapter_start" in source and lines <= 2:
        return "skip"  # the closing "this chapter took ..." timer
    if lines > LONG_CODE_LINES or previous_type in ("-", "fragment", "subslide"):
        return "subslide"
    return "-"


def slide_type(cell) -> str | None:
    return cell.metadata.get("slideshow", {}).get("slide_type")


def mark_up(path: Path) -> int:
    """Give every cell of the notebook at ``path`` that has none a slide type; return how many."""
    notebook = nbformat.read(path, as_version=4)
    changed, previous = 0, None
    for index, cell in enumerate(notebook.cells):
        current = slide_type(cell)
        if current is None:
            current = default_slide_type(cell, previous, index)
            cell.metadata["slideshow"] = {"slide_type": current}
            changed += 1
            lines = cell.source.strip().count("\n") + 1
            if cell.cell_type == "code" and current != "skip" and lines > LONG_CODE_LINES:
                tags = cell.metadata.setdefault("tags", [])
                if HIDE_INPUT not in tags:
                    tags.append(HIDE_INPUT)
        previous = current
    if changed:
        text = nbformat.writes(notebook, version=4)
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return changed


def problems(path: Path) -> list[str]:
    """What keeps the notebook at ``path`` from making a good deck (empty when nothing)."""
    notebook = nbformat.read(path, as_version=4)
    found = []
    types = [slide_type(cell) for cell in notebook.cells]
    for index, (cell, kind) in enumerate(zip(notebook.cells, types, strict=True)):
        if kind not in SLIDE_TYPES:
            found.append(f"{path.name} cell {index}: slide_type {kind!r} not one of {SLIDE_TYPES}")
        lines = cell.source.strip().count("\n") + 1
        hidden = kind == "skip" or HIDE_INPUT in cell.metadata.get("tags", [])
        if cell.cell_type == "code" and lines > LONG_CODE_LINES and not hidden:
            found.append(f"{path.name} cell {index}: {lines} lines of code shown on a slide; "
                         f"tag it {HIDE_INPUT!r} or skip it")
    if types and types[0] != "slide":
        found.append(f"{path.name}: the first cell must open a slide")
    if "notes" not in types:
        found.append(f"{path.name}: no speaker notes (no cell of type 'notes')")
    return found
