"""Batches and loaders: padding, masks, length buckets, seeded loaders, LM windows.

Shape letters used in comments: B batch, T time (target), S source.
"""

from __future__ import annotations

import numbers
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields, replace

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


@dataclass(frozen=True)
class Batch:
    """A padded batch. ``src`` is always set; ``tgt`` only for paired data (translation).

    ``src_mask`` is True at real tokens and False at padding; ``src_lengths`` are the
    unpadded lengths (on the CPU, as ``pack_padded_sequence`` wants them).
    """

    src: torch.Tensor  # (B, S) token ids
    src_lengths: torch.Tensor  # (B,)
    src_mask: torch.Tensor  # (B, S) bool
    tgt: torch.Tensor | None = None  # (B, T)
    tgt_lengths: torch.Tensor | None = None  # (B,)
    tgt_mask: torch.Tensor | None = None  # (B, T) bool
    labels: torch.Tensor | None = None  # (B,) class labels, for classification

    def to(self, device: torch.device | str) -> Batch:
        """A copy on ``device``; lengths stay on the CPU."""
        moved = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None and not field.name.endswith("lengths"):
                moved[field.name] = value.to(device)
        return replace(self, **moved)

    def __len__(self) -> int:
        return self.src.shape[0]


def pad_sequences(
    sequences: Sequence[Sequence[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-pad id sequences into a tensor. Returns ``(ids (B, L), lengths (B,), mask (B, L))``."""
    if len(sequences) == 0:
        raise ValueError("pad_sequences needs at least one sequence")
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    if int(lengths.min()) == 0:
        raise ValueError(
            "pad_sequences got an empty sequence; drop empty examples before batching "
            "(or add <bos>/<eos> so that none is empty)"
        )
    ids = torch.full((len(sequences), int(lengths.max())), pad_id, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
    mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
    return ids, lengths, mask


def make_collate(pad_id: int) -> Callable[[list], Batch]:
    """A ``collate_fn`` for examples that are id lists, ``(src, tgt)`` pairs or ``(ids, label)``.

    A pair whose second item is an int is read as ``(ids, label)``.
    """

    def collate(examples: list) -> Batch:
        first = examples[0]
        if isinstance(first, (tuple, list)) and len(first) == 2 and not _is_int(first[0]):
            left = [e[0] for e in examples]
            right = [e[1] for e in examples]
            src, src_lengths, src_mask = pad_sequences(left, pad_id)
            if _is_int(right[0]):
                return Batch(src, src_lengths, src_mask, labels=torch.tensor([int(r) for r in right]))
            tgt, tgt_lengths, tgt_mask = pad_sequences(right, pad_id)
            return Batch(src, src_lengths, src_mask, tgt, tgt_lengths, tgt_mask)
        src, src_lengths, src_mask = pad_sequences(examples, pad_id)
        return Batch(src, src_lengths, src_mask)

    return collate


def _is_int(value) -> bool:
    """A Python or NumPy integer, or a 0-d integer tensor (a class label, not a sequence)."""
    if isinstance(value, torch.Tensor):
        return value.dim() == 0 and not value.is_floating_point()
    return isinstance(value, numbers.Integral)


class BucketSampler(Sampler[list[int]]):
    """Batches of indices whose examples have similar lengths, so little padding is wasted.

    Each epoch shuffles (seeded by ``seed + epoch``), sorts within windows of
    ``batch_size * bucket_factor`` examples by length, cuts batches and shuffles their order.
    Call ``set_epoch(epoch)`` before each epoch for a new, reproducible order.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        bucket_factor: int = 50,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.bucket_factor = bucket_factor
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        order = list(range(len(self.lengths)))
        rng = random.Random(self.seed + self.epoch)
        if self.shuffle:
            rng.shuffle(order)
        window = self.batch_size * self.bucket_factor
        batches = []
        for start in range(0, len(order), window):
            chunk = sorted(order[start : start + window], key=lambda i: self.lengths[i])
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())


def make_loader(
    dataset: Dataset | Sequence,
    batch_size: int,
    pad_id: int | None = None,
    shuffle: bool = True,
    seed: int = 0,
    lengths: Sequence[int] | None = None,
    drop_last: bool = False,
) -> DataLoader:
    """A reproducible ``DataLoader``: the same seed always gives the same batches.

    With ``pad_id`` the examples are padded into ``Batch`` objects; with ``lengths`` too,
    examples of similar length are batched together (``BucketSampler``).
    """
    collate = make_collate(pad_id) if pad_id is not None else None
    if lengths is not None:
        if len(lengths) != len(dataset):
            raise ValueError(f"lengths has {len(lengths)} entries but the dataset {len(dataset)}")
        sampler = BucketSampler(lengths, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        collate_fn=collate,
        drop_last=drop_last,
    )


class LMWindows(Dataset):
    """Fixed-length windows over one long token stream, for language-model training.

    Item ``i`` is ``(x, y)`` with ``x = ids[i*stride : i*stride + block_size]`` and ``y`` the
    same window shifted by one token: the model predicts ``y[t]`` from ``x[: t + 1]``.
    """

    def __init__(self, ids: torch.Tensor | Sequence[int], block_size: int, stride: int | None = None):
        self.ids = torch.as_tensor(ids, dtype=torch.long)
        if self.ids.dim() != 1:
            raise ValueError(f"LMWindows takes a 1-D stream of ids, got shape {tuple(self.ids.shape)}")
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        if len(self.ids) < block_size + 1:
            raise ValueError(
                f"The stream has {len(self.ids)} tokens, too few for one window of "
                f"block_size={block_size} plus its target; use a smaller block_size"
            )
        if stride is not None and stride < 1:
            raise ValueError(f"stride must be >= 1 (or None for block_size), got {stride}")
        self.block_size = block_size
        self.stride = block_size if stride is None else stride

    def __len__(self) -> int:
        return (len(self.ids) - self.block_size - 1) // self.stride + 1

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        start = index * self.stride
        chunk = self.ids[start : start + self.block_size + 1]
        return chunk[:-1], chunk[1:]  # (T,), (T,)


def random_windows(
    ids: torch.Tensor, block_size: int, batch_size: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of windows at random offsets (nanoGPT's ``get_batch``): ``x, y`` of shape (B, T)."""
    if len(ids) < block_size + 1:
        raise ValueError(f"The stream has {len(ids)} tokens, too few for block_size={block_size}")
    starts = torch.randint(len(ids) - block_size, (batch_size,), generator=generator)
    x = torch.stack([ids[s : s + block_size] for s in starts.tolist()])
    y = torch.stack([ids[s + 1 : s + block_size + 1] for s in starts.tolist()])
    return x, y
