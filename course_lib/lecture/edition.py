"""The executed edition: every chapter run once, its outputs kept for slides and the site.

``build(mode)`` runs each chapter notebook with nbclient, in quick mode (``COURSE_QUICK=1``,
about a minute a chapter on a CPU, what CI builds) or full mode (the course's real results;
30-60 minutes for chapters 07-09 on a CPU, minutes on a GPU), and writes under
``build/executed/<mode>/``:

- ``notebooks/NN_topic.ipynb``: the executed chapter;
- ``cache/``: ``COURSE_CACHE_DIR`` of the runs, so the checkpoints the chapters train
  (chapter 09's GPT, which chapter 10 reuses) stay with the edition, outside git;
- ``manifest.json``: per chapter its content hash, mode, device, seconds and when it finished.

A chapter runs again only when its *code* changed: the hash covers the mode and the source of
its code cells, not markdown or metadata. A text-only edit is picked up without a re-run by
``executed_notebook``, which lays the kept outputs onto today's cells. Each chapter is written
(atomically) and recorded as soon as it finishes, so an interrupted build resumes with the
first chapter that has no up-to-date record.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import nbformat

MODES = ("quick", "full")
# Part of every content hash: bump it when the way chapters are run changes their outputs.
RECIPE = "2: inline figures"
ROOT = Path(__file__).resolve().parents[2]


def chapters(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def edition_dir(mode: str, build: Path | None = None) -> Path:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    return (build or ROOT / "build") / "executed" / mode


def content_hash(notebook, mode: str) -> str:
    """SHA-256 of the recipe, the mode and the code cells' sources: what decides the outputs."""
    digest = hashlib.sha256(f"{RECIPE}\0{mode}".encode())
    for cell in notebook.cells:
        if cell.cell_type == "code":
            digest.update(b"\0" + cell.source.encode())
    return digest.hexdigest()


def read_manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def describe_device() -> str:
    """The device the chapters train on, as the kernels will pick it (``COURSE_DEVICE``)."""
    from course_lib.device import get_device

    device = get_device()
    if device.type == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(device)})"
    import torch

    return (f"{device.type} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} torch threads)")


def kernel_env(mode: str, folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("COURSE_QUICK", None)
    if mode == "quick":
        env["COURSE_QUICK"] = "1"
    env["COURSE_CACHE_DIR"] = str(folder / "cache")
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures into outputs
    env.setdefault("TQDM_DISABLE", "1")
    return env


def run_chapter(path: Path, mode: str, folder: Path, timeout: int | None) -> nbformat.NotebookNode:
    """Execute one chapter in its own folder with the mode's environment; return it run."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=kernel_env(mode, folder))
    return notebook


def run_timed(path: Path, mode: str, folder: Path, timeout: int | None) -> tuple[str, float]:
    """``run_chapter``, returning the executed notebook as JSON text and the seconds it took."""
    start = time.perf_counter()
    notebook = run_chapter(path, mode, folder, timeout)
    return nbformat.writes(notebook, version=4), time.perf_counter() - start


def build(mode: str, *, only: list[str] | None = None, build_root: Path | None = None,
          timeout: int | None = None, sources: list[Path] | None = None, jobs: int = 1,
          force: bool = False, log=print) -> dict:
    """Run every chapter (or those whose names start with ``only``) that is out of date.

    The hash covers a chapter's code, not ``course_lib``: after a library change that alters
    outputs, pass ``force=True`` (``--force``) to re-run the chapters selected.

    ``sources`` replaces the chapter notebooks (the tests pass small ones). ``jobs`` > 1 runs
    that many chapters at once, each in its own process and kernel: quick mode only, since
    full mode's budgets are wall-clock minutes and chapter 10 reads chapter 09's checkpoint.

    Returns the manifest. A failing cell stops the build with nbclient's error; every chapter
    that finished before it is kept.
    """
    if jobs > 1 and mode != "quick":
        raise ValueError(f"jobs={jobs}: only quick mode runs chapters in parallel; full mode's "
                         "budgets are wall-clock minutes and chapter 10 reads chapter 09's model")
    folder = edition_dir(mode, build_root)
    (folder / "cache").mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(folder)
    device = describe_device()
    todo = []
    for path in sources or chapters():
        if only and not any(path.name.startswith(prefix) for prefix in only):
            continue
        digest = content_hash(nbformat.read(path, as_version=4), mode)
        record = manifest.get(path.stem, {})
        current = record.get("hash") == digest and (folder / "notebooks" / path.name).exists()
        if current and not force:
            log(f"{path.stem}: up to date ({record['seconds']:.0f} s on {record['device']})")
        else:
            todo.append((path, digest))

    def keep(path: Path, digest: str, text: str, seconds: float) -> None:
        write_atomically(folder / "notebooks" / path.name, text)
        manifest[path.stem] = {
            "hash": digest, "mode": mode, "device": device, "seconds": round(seconds, 1),
            "parallel_chapters": jobs,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_atomically(folder / "manifest.json", json.dumps(manifest, indent=1) + "\n")
        log(f"{path.stem}: {seconds:.0f} s")

    if jobs <= 1 or len(todo) <= 1:
        for path, digest in todo:
            log(f"{path.stem}: running in {mode} mode on {device} ...")
            keep(path, digest, *run_timed(path, mode, folder, timeout))
        return manifest
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    failure = None
    spawn = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
    with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn) as pool:
        runs = {pool.submit(run_timed, path, mode, folder, timeout): (path, digest)
                for path, digest in todo}
        log(f"running {len(runs)} chapters in {mode} mode, {jobs} at a time, on {device} ...")
        for future in as_completed(runs):
            try:
                keep(*runs[future], *future.result())
            except Exception as error:  # keep the others' results, then raise the first
                failure = failure or error
    if failure is not None:
        raise failure
    return manifest


def executed_notebook(path: Path, folder: Path) -> tuple[nbformat.NotebookNode, bool]:
    """Today's chapter at ``path`` with the outputs of its run in ``folder`` laid onto it.

    Returns ``(notebook, True)`` when ``folder`` holds a run of this very code, else
    ``(notebook without outputs, False)``.
    """
    notebook = nbformat.read(path, as_version=4)
    record = read_manifest(folder).get(path.stem, {})
    executed_path = folder / "notebooks" / path.name
    mode = record.get("mode", "")
    if not executed_path.exists() or record.get("hash") != content_hash(notebook, mode):
        return notebook, False
    executed = nbformat.read(executed_path, as_version=4)
    runs = [cell for cell in executed.cells if cell.cell_type == "code"]
    codes = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for cell, run in zip(codes, runs, strict=True):
        cell.outputs, cell.execution_count = run.outputs, run.execution_count
    notebook.metadata["lecture"] = {"mode": mode, "device": record.get("device"),
                                    "seconds": record.get("seconds")}
    return notebook, True


def chapter_with_outputs(path: Path, build_root: Path | None = None, modes=("full", "quick")):
    """Chapter ``path`` with full-mode outputs where they are up to date, else quick-mode ones.

    Returns ``(notebook, mode)``; ``mode`` is None when no edition in ``modes`` holds this code.
    """
    for mode in modes:
        notebook, found = executed_notebook(path, edition_dir(mode, build_root))
        if found:
            return notebook, mode
    return nbformat.read(path, as_version=4), None
