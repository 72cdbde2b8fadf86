"""Resuming a training run exactly where it stopped.

A checkpoint that ``training.train`` writes holds the model's and the optimizer's state, the
step, the history so far, every random-number state (Python's, NumPy's, torch's, each CUDA
device's, the data loader's own generators) and the position in the batch stream. Restoring
all of them makes a resumed run take the same steps on the same batches as a run that was
never interrupted (bit-identical on the CPU). ``train(..., resume=True)`` uses this module;
``training.load_checkpoint`` reads a checkpoint's model back for inference.

A chapter that trains a model in full mode saves its weights by recipe (``save_trained``, one
file per recipe in ``cache_dir()/checkpoints``), and a later chapter or the capstone fills a
model built from the same recipe with them (``load_trained``); ``course_lib.recipes``
re-exports both beside the recipes.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:  # only for the annotations: recipes imports this module
    from course_lib.recipes import CharLMRecipe, TranslationRecipe

# --- Batch sources that know their position ----------------------------------------------


class CallSource:
    """Batches from a zero-argument function; its randomness is the global RNG's."""

    def __init__(self, make_batch: Callable[[], Any]):
        self.make_batch = make_batch
        self.generators: list[torch.Generator] = []

    def __next__(self) -> Any:
        return self.make_batch()

    def state(self) -> dict:
        return {}

    def restore(self, state: dict) -> None:
        pass


class EpochCycle:
    """A re-iterable cycled epoch after epoch, calling ``set_epoch`` where there is one.

    It remembers the RNG states at the start of the current epoch, so that a resumed run can
    rebuild this epoch's order and skip the batches already used.
    """

    def __init__(self, batches: Iterable):
        if iter(batches) is batches:
            raise TypeError(
                "batches is a one-shot iterator (e.g. a generator); pass a list or DataLoader, "
                "which can be iterated again each epoch, or a function that returns a batch"
            )
        self.batches, self.epoch, self.index = batches, 0, 0
        self.generators = generators_of(batches)
        self._iterator, self._epoch_rng = None, None

    def __next__(self) -> Any:
        if self._iterator is None:
            self._start_epoch()
        batch = next(self._iterator, _END)
        if batch is _END:
            if self.index == 0:
                raise ValueError("batches is empty: it yielded no batch in a whole epoch")
            self.epoch, self.index, self._iterator = self.epoch + 1, 0, None
            return next(self)
        self.index += 1
        return batch

    def _start_epoch(self) -> None:
        for owner in (self.batches, getattr(self.batches, "sampler", None),
                      getattr(self.batches, "batch_sampler", None)):
            if hasattr(owner, "set_epoch"):
                owner.set_epoch(self.epoch)
        self._epoch_rng = rng_state(self.generators)
        self._iterator = iter(self.batches)

    def state(self) -> dict:
        return {"epoch": self.epoch, "index": self.index, "epoch_rng": self._epoch_rng}

    def restore(self, state: dict) -> None:
        """Rebuild the saved epoch from its starting RNG states and skip the used batches."""
        self.epoch = state["epoch"]
        if state["epoch_rng"] is None:
            return
        set_rng_state(state["epoch_rng"], self.generators)
        self._start_epoch()
        for _ in range(state["index"]):
            next(self)


_END = object()


def batch_stream(batches: Iterable | Callable[[], Any]) -> CallSource | EpochCycle:
    if callable(batches):
        return CallSource(batches)
    if isinstance(batches, Iterable):
        return EpochCycle(batches)
    raise TypeError(
        f"batches must be a list/DataLoader or a function returning a batch, got {type(batches).__name__}"
    )


def generators_of(batches: Iterable) -> list[torch.Generator]:
    """The torch.Generators a DataLoader shuffles with (its own, its sampler's), no duplicates."""
    found = []
    batch_sampler = getattr(batches, "batch_sampler", None)
    for owner in (batches, getattr(batches, "sampler", None), batch_sampler,
                  getattr(batch_sampler, "sampler", None)):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator) and all(generator is not g for g in found):
            found.append(generator)
    return found


# --- Random-number states and checkpoint files -------------------------------------------


def rng_state(generators: list[torch.Generator]) -> dict:
    """Python's, NumPy's and torch's (CPU, every CUDA device, given generators) RNG states."""
    kind, key, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, key.tolist(), pos, has_gauss, gauss),
        "torch": torch.get_rng_state(),
        "generators": [g.get_state() for g in generators],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, generators: list[torch.Generator]) -> None:
    random.setstate(state["python"])
    kind, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.array(key, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    for generator, saved in zip(generators, state["generators"], strict=True):
        generator.set_state(saved)
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     step: int, history: Any, config: Any, stream: CallSource | EpochCycle) -> None:
    """Write a resumable checkpoint atomically (a temporary file, then a rename: a crash never
    leaves half a file). ``history`` and ``config`` are dataclasses, stored as plain dicts."""
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "history": asdict(history),
        "rng": rng_state(stream.generators),
        "data": stream.state(),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(checkpoint, temporary)
    os.replace(temporary, path)


def restore_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                       stream: CallSource | EpochCycle) -> tuple[dict, int]:
    """Load a checkpoint into ``model``, ``optimizer``, ``stream`` and every random-number
    generator; returns the history's fields and the step to continue after."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    stream.restore(checkpoint["data"])  # uses the RNG states of the epoch's start ...
    set_rng_state(checkpoint["rng"], stream.generators)  # ... then those of the checkpoint
    return checkpoint["history"], checkpoint["step"]


# --- Trained models that chapters hand each other ------------------------------------------
def checkpoint_path(recipe: CharLMRecipe | TranslationRecipe) -> Path:
    """Where the chapter of ``recipe`` saves its full-mode model: ``cache_dir()/checkpoints``."""
    from course_lib.corpora import cache_dir

    return cache_dir() / "checkpoints" / recipe.checkpoint


def save_trained(recipe: CharLMRecipe | TranslationRecipe, model: torch.nn.Module, **details: Any) -> Path:
    """Save ``model``'s weights with the recipe's name and sizes and ``details`` (the
    vocabulary, the chapter's figure as ``val_nats_per_char`` or ``bleu``, ``train_seconds``,
    ``steps``) where ``load_trained`` and the capstone find them. Plain types only: the file
    loads with ``torch.load(weights_only=True)``."""
    path = checkpoint_path(recipe)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"recipe": recipe.name, "model": model.state_dict(), "size": dict(recipe.sizes),
                **details}, path)
    return path


def load_trained(recipe: CharLMRecipe | TranslationRecipe, model: torch.nn.Module) -> dict | None:
    """Fill ``model`` (built from ``recipe``) with the chapter's saved weights and return the
    saved details, or None when the chapter has not saved any (never run in full mode)."""
    path = checkpoint_path(recipe)
    if not path.exists():
        return None
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved["size"] != dict(recipe.sizes):
        raise ValueError(f"{path} holds a model of sizes {saved['size']}, but recipe {recipe.name!r} "
                         f"now has {dict(recipe.sizes)}: run chapter {recipe.chapter} again in full "
                         "mode, or delete the file")
    model.load_state_dict(saved["model"])
    return saved
