"""Padding, masks, collation, length buckets, seeded loaders and language-model windows."""

from itertools import pairwise

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.data import (
    Batch,
    BucketSampler,
    LMWindows,
    make_collate,
    make_loader,
    pad_sequences,
    random_windows,
)

PAD = 0


def test_pad_sequences_known_answer():
    ids, lengths, mask = pad_sequences([[5, 6, 7], [8], [9, 10]], pad_id=PAD)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert lengths.tolist() == [3, 1, 2]
    assert mask.tolist() == [[True, True, True], [True, False, False], [True, True, False]]
    assert ids.dtype == lengths.dtype == torch.long and mask.dtype == torch.bool


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(1, 50), min_size=1, max_size=12), min_size=1, max_size=8),
       st.integers(-1, 3))
def test_padding_keeps_every_token_and_masks_exactly_the_padding(sequences, pad_id):
    ids, lengths, mask = pad_sequences(sequences, pad_id=pad_id)
    assert mask.sum(1).tolist() == lengths.tolist() == [len(s) for s in sequences]
    assert ids[mask].tolist() == [token for s in sequences for token in s]  # row-major order
    assert (ids[~mask] == pad_id).all()
    assert ids.shape == (len(sequences), max(lengths.tolist()))


def test_pad_sequences_refuses_empty_input():
    with pytest.raises(ValueError, match="empty sequence"):
        pad_sequences([[1, 2], []], pad_id=PAD)
    with pytest.raises(ValueError, match="at least one"):
        pad_sequences([], pad_id=PAD)


def test_collate_id_lists():
    batch = make_collate(PAD)([[4, 5], [6]])
    assert isinstance(batch, Batch) and len(batch) == 2
    assert batch.src.tolist() == [[4, 5], [6, 0]]
    assert batch.tgt is None and batch.labels is None


def test_collate_source_target_pairs():
    batch = make_collate(PAD)([([1, 2, 3], [7]), ([4], [8, 9])])
    assert batch.src.tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch.tgt.tolist() == [[7, 0], [8, 9]]
    assert batch.tgt_lengths.tolist() == [1, 2]
    assert batch.tgt_mask.tolist() == [[True, False], [True, True]]


def test_collate_ids_with_labels():
    batch = make_collate(PAD)([([1, 2], 1), ([3], 0)])
    assert batch.src.tolist() == [[1, 2], [3, 0]]
    assert batch.labels.tolist() == [1, 0] and batch.tgt is None


def test_batch_to_keeps_lengths_on_the_cpu():
    batch = make_collate(PAD)([([1, 2], [3]), ([4], [5])]).to("cpu")
    assert batch.src_lengths.device.type == "cpu" and batch.tgt is not None


def bucket_batches(sampler, epoch):
    sampler.set_epoch(epoch)
    return list(sampler)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=80), st.integers(1, 9),
       st.integers(1, 4), st.integers(0, 3))
def test_bucket_sampler_covers_every_index_once_per_epoch(lengths, batch_size, factor, epoch):
    sampler = BucketSampler(lengths, batch_size, bucket_factor=factor, seed=1)
    batches = bucket_batches(sampler, epoch)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(1 <= len(b) <= batch_size for b in batches)
    assert len(sampler) == len(batches)


def test_bucket_sampler_batches_are_near_sorted():
    lengths = [(7 * i) % 23 + 1 for i in range(100)]
    # One bucket holding every example: batches cover disjoint ranges of lengths.
    sampler = BucketSampler(lengths, batch_size=10, bucket_factor=10, seed=0)
    ranges = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in sampler)
    assert all(high <= next_low for (_, high), (next_low, _) in pairwise(ranges))

    # With smaller buckets, still far less padding than in shuffled batches.
    def padding(batches):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    shuffled = torch.randperm(100, generator=torch.Generator().manual_seed(0)).view(10, 10)
    assert padding(BucketSampler(lengths, 10, bucket_factor=5)) < padding(shuffled.tolist()) / 3


def test_bucket_sampler_is_reproducible_per_seed_and_epoch():
    lengths = [i % 13 + 1 for i in range(60)]
    a = BucketSampler(lengths, 4, bucket_factor=3, seed=5)
    b = BucketSampler(lengths, 4, bucket_factor=3, seed=5)
    assert bucket_batches(a, 2) == bucket_batches(b, 2)
    assert bucket_batches(a, 1) != bucket_batches(a, 2)


def test_bucket_sampler_drop_last_and_bad_batch_size():
    sampler = BucketSampler([1] * 10, batch_size=4, drop_last=True)
    assert [len(b) for b in sampler] == [4, 4]
    with pytest.raises(ValueError, match="batch_size"):
        BucketSampler([1, 2], batch_size=0)


def test_make_loader_is_reproducible():
    data = [[i + 1] * (i % 4 + 1) for i in range(30)]

    def first_epoch(**kwargs):
        return [b.src.tolist() for b in make_loader(data, batch_size=4, pad_id=PAD, **kwargs)]

    assert first_epoch(seed=1) == first_epoch(seed=1)
    assert first_epoch(seed=1) != first_epoch(seed=2)
    lengths = [len(x) for x in data]
    assert first_epoch(seed=1, lengths=lengths) == first_epoch(seed=1, lengths=lengths)
    ordered = first_epoch(shuffle=False)
    assert [row[0] for b in ordered for row in b] == list(range(1, 31))


def test_make_loader_checks_the_lengths():
    with pytest.raises(ValueError, match="lengths"):
        make_loader([[1], [2]], batch_size=1, pad_id=PAD, lengths=[1])


def test_lm_windows_known_answer():
    windows = LMWindows(torch.arange(10), block_size=3)
    assert len(windows) == 3  # starts 0, 3, 6: the last needs tokens 6..9
    x, y = windows[1]
    assert x.tolist() == [3, 4, 5] and y.tolist() == [4, 5, 6]
    overlapping = LMWindows(list(range(10)), block_size=4, stride=1)
    assert len(overlapping) == 6
    assert overlapping[5][1].tolist() == [6, 7, 8, 9]
    with pytest.raises(IndexError):
        windows[3]


def test_lm_windows_refuses_short_or_2d_streams():
    with pytest.raises(ValueError, match="too few"):
        LMWindows(torch.arange(4), block_size=4)
    with pytest.raises(ValueError, match="1-D"):
        LMWindows(torch.zeros(2, 5, dtype=torch.long), block_size=2)


def test_random_windows_are_shifted_by_one_and_reproducible():
    ids = torch.arange(100)
    x, y = random_windows(ids, block_size=8, batch_size=5, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 8)
    assert torch.equal(y, x + 1)  # with ids = 0, 1, 2, ... the next token is the id plus one
    again, _ = random_windows(ids, 8, 5, generator=torch.Generator().manual_seed(0))
    other, _ = random_windows(ids, 8, 5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(x, again) and not torch.equal(x, other)
    with pytest.raises(ValueError, match="too few"):
        random_windows(torch.arange(8), block_size=8, batch_size=1)
