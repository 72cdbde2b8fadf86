"""The results record: every measured figure of the course, one JSON object a line.

Chapters (in full mode) and benchmarks append what they measure with ``record``: the model,
the data, the split, the metric and its value, with the parameters, training time, device,
commit and date that say where it came from. The file lives outside git, beside the corpora
cache (``cache_dir() / "results.jsonl"``, or ``$COURSE_RESULTS``), so a figure is never typed
into a notebook: a chapter that compares with an earlier one reads it with ``latest`` /
``quote``, and on a fresh clone, or in quick mode, it says that the figure has not been
measured here yet. ``update_readme`` regenerates the README's results table from the record
(``course results table --readme``), and the budget race's table when the README has one.
"""

from __future__ import annotations

import datetime
import json
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

START, END = "<!-- results:start -->", "<!-- results:end -->"
_CHARS = {"data": "Tiny Shakespeare chars", "split": "validation", "metric": "nats/char"}
# The figures later chapters compare with, as queries of the record (their writers record them
# under these names): ``quote(**BEST_CHAR_NGRAM)``.
# The chapter is part of the query: the capstone records the same model under its own measure.
BEST_CHAR_NGRAM = MappingProxyType({"model": "modified Kneser-Ney, order 7", **_CHARS, "chapter": "01"})
BENCHMARK_GPT = MappingProxyType({"model": "GPT, 4 x 128, benchmark settings", **_CHARS,
                                  "chapter": "benchmarks/gpt_char_shakespeare.py"})
HEADER = "| model | data | figure | reference |\n|---|---|---|---|"
# The leaderboard (chapter 14, benchmarks/leaderboard.py) scores again the models the chapters
# train: its figures stay out of the results table, and its budget race has a table of its own.
LEADERBOARD, RACE = "benchmarks/leaderboard.py", "benchmarks/leaderboard.py --race"
RACE_START, RACE_END = "<!-- race:start -->", "<!-- race:end -->"
RACE_HEADER = ("| model | data | quality | parameters | training | FLOPs (estimate) | generation |\n"
               "|---|---|---|---|---|---|---|")


@dataclass(frozen=True)
class Result:
    """One measured figure. ``model`` and ``data`` name the README row (with ``chapter``:
    ``"01"`` gives "(ch 01)"); ``split``, ``metric`` and ``value`` the figure; ``note`` says
    how it was trained in a few words ("3,449 steps in 10.0 min"); ``settings`` anything else
    worth keeping (the recipe's name, steps)."""

    model: str
    data: str
    split: str
    metric: str
    value: float
    chapter: str = ""
    parameters: int | None = None
    train_seconds: float | None = None
    device: str = ""
    commit: str = ""
    date: str = ""
    note: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def row(self) -> str:
        """The README's model cell: ``model (ch NN)`` for a chapter's figure, ``model (where)``
        for a benchmark's."""
        if self.chapter.isdigit():
            return f"{self.model} (ch {self.chapter})"
        return f"{self.model} ({self.chapter})" if self.chapter else self.model

    def matches(self, **query: str) -> bool:
        return all(getattr(self, key) == value for key, value in query.items())


def record_path() -> Path:
    """``$COURSE_RESULTS`` if set, else ``results.jsonl`` in the course cache folder."""
    import os

    from course_lib.corpora import cache_dir

    return Path(os.environ["COURSE_RESULTS"]) if os.environ.get("COURSE_RESULTS") else cache_dir() / "results.jsonl"


def current_commit() -> str:
    """The short commit of the checkout ``course_lib`` runs from ("" outside a git checkout;
    a ``+`` marks uncommitted changes)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return commit + ("+" if dirty else "")


def record(model: str, data: str, split: str, metric: str, value: float, *, path: Path | None = None,
           **details: Any) -> Result:
    """Append one figure to the record (``record_path()`` unless ``path``) and return it.
    ``details`` are the other ``Result`` fields; the commit and the date (UTC) are filled in
    when not given, and the device is the default device's description."""
    if not isinstance(value, int | float) or value != value:
        raise ValueError(f"value must be a number, got {value!r}")
    known = {f.name for f in fields(Result)}
    unknown = set(details) - known
    if unknown:
        raise TypeError(f"unknown result fields {sorted(unknown)}; known: {sorted(known)}")
    details.setdefault("commit", current_commit())
    details.setdefault("date", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    if "device" not in details:
        from course_lib.device import describe

        details["device"] = describe()
    result = Result(model, data, split, metric, float(value), **details)
    path = Path(path) if path is not None else record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        file.write(json.dumps(asdict(result), ensure_ascii=False) + "\n")
    return result


def read(path: Path | None = None) -> list[Result]:
    """Every result in the record, oldest first; an empty list when there is no record yet."""
    path = Path(path) if path is not None else record_path()
    if not path.exists():
        return []
    results = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            results.append(Result(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as error:
            raise ValueError(f"{path}, line {number}: not a result ({error}); fix or delete that "
                             "line (the record is plain JSON lines)") from None
    return results


def latest(results: Iterable[Result] | None = None, **query: str) -> Result | None:
    """The newest result whose fields equal ``query`` (e.g. ``model=..., split="validation"``),
    or None; ``results`` defaults to ``read()``."""
    found = [r for r in (read() if results is None else results) if r.matches(**query)]
    return found[-1] if found else None


def quote(results: Iterable[Result] | None = None, digits: int = 3, **query: str) -> str:
    """The newest matching figure as text for a notebook ("1.517 nats/char (chapter 01, full
    mode, 2026-12-05, commit 21bd995)"), or a sentence saying the record lacks it."""
    found = latest(results, **query)
    if found is None:
        what = ", ".join(query[key] for key in ("model", "split") if key in query)
        chapter = query.get("chapter", "")
        source = f"chapter {chapter} in full mode" if chapter.isdigit() else chapter or "the chapter that measures it"
        return f"[not measured on this machine yet: {what}. Run {source}; it adds the figure to the results record]"
    where = f"chapter {found.chapter}" if found.chapter.isdigit() else found.chapter or "recorded"
    return f"{found.value:.{digits}f} {found.metric} ({where}, {found.date[:10]}, commit {found.commit or '?'})"


def figure_text(results: Iterable[Result]) -> str:
    """The README's figure cell for one row: each split and metric's newest value, then the
    note, training time and provenance of the newest (``trained 12 s``, ``trained 4.5 min``)."""
    newest: dict[tuple[str, str], Result] = {}
    for result in results:
        newest[(result.split, result.metric)] = result
    parts = [f"{r.value:.4g} {r.metric} ({r.split})" for r in newest.values()]
    last = max(newest.values(), key=lambda r: r.date)
    details = [last.note] if last.note else []
    if last.train_seconds:
        details.append(f"trained {_duration(last.train_seconds)}")
    details.append(f"{last.date[:10]}, commit {last.commit or '?'}")
    return "; ".join(parts) + f" ({'; '.join(details)})"


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _row(cells: list[str]) -> str:
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def is_leaderboard(result: Result) -> bool:
    """True for the leaderboard's figures (chapter 14, ``benchmarks/leaderboard.py``)."""
    return result.chapter == "14" or result.chapter.startswith(LEADERBOARD)


def race_table(results: Iterable[Result]) -> str:
    """The budget race (``benchmarks/leaderboard.py --race``) as markdown rows, one per model
    and data, each quality figure its newest, in the order the race ran them."""
    by_row: dict[tuple[str, str], dict[tuple[str, str], Result]] = {}
    for result in results:
        if result.chapter == RACE:
            by_row.setdefault((result.model, result.data), {})[(result.split, result.metric)] = result
    lines = []
    for (model, data), figures in by_row.items():
        quality = "; ".join(f"{r.value:.4g} {r.metric} ({r.split})" if r.metric == "nats/char"
                            else f"{r.metric} {r.value:.2f}" for r in figures.values())
        last = max(figures.values(), key=lambda r: r.date)
        flops, speed = last.settings.get("flops"), last.settings.get("speed")
        unit = "characters" if last.metric == "nats/char" else "sentences"
        lines.append(_row([model, data, quality, f"{last.parameters:,}" if last.parameters else "",
                           _duration(last.train_seconds) if last.train_seconds else "",
                           f"{flops:.2e}" if flops else "0 (counts)",
                           f"{speed:,.0f} {unit}/s" if speed else ""]))
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def _replace_between(text: str, start: str, end: str, body: str) -> str:
    head, rest = text.split(start, 1)
    return f"{head}{start}\n{body}\n{end}{rest.split(end, 1)[1]}"


def update_readme(text: str, results: Iterable[Result]) -> str:
    """``text`` with the table between ``START`` and ``END`` regenerated from ``results``, and
    the race table between ``RACE_START`` and ``RACE_END`` when ``text`` has those markers.

    A row whose model and data the record has gets its figure from the record and keeps its
    reference; rows the record lacks stay as written (figures measured before the record);
    the record's new rows are added at the end, with an empty reference. The leaderboard's
    figures (``is_leaderboard``) are not rows of the results table.
    """
    if START not in text or END not in text:
        raise ValueError(f"the README has no results table between {START} and {END}: add "
                         "both markers around it")
    results = list(results)
    if RACE_START in text and RACE_END in text and any(r.chapter == RACE for r in results):
        text = _replace_between(text, RACE_START, RACE_END, f"{RACE_HEADER}\n{race_table(results)}")
    table = text.split(START, 1)[1].split(END, 1)[0]
    by_row: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        if not is_leaderboard(result):
            by_row.setdefault((result.row, result.data), []).append(result)
    lines = []
    for line in table.strip().splitlines()[2:]:  # below the header and its rule
        model, data, _, reference = (_cells(line) + [""] * 4)[:4]
        measured = by_row.pop((model, data), None)
        lines.append(_row([model, data, figure_text(measured), reference]) if measured else line.strip())
    lines += [_row([model, data, figure_text(measured), ""]) for (model, data), measured in by_row.items()]
    return _replace_between(text, START, END, HEADER + "\n" + "\n".join(lines))
