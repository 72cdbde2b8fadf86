"""The GPT benchmark replays nanoGPT's random draws, so it trains and validates on nanoGPT's batches."""

import importlib.util
from pathlib import Path

import torch

from course_lib.data import random_windows

VOCAB, BLOCK, DIM, HEADS, LAYERS = 65, 64, 128, 4, 4


def load_benchmark():
    path = Path(__file__).parents[1] / "benchmarks" / "gpt_char_shakespeare.py"
    spec = importlib.util.spec_from_file_location("gpt_char_shakespeare", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def draw_as_nanogpt_initialises() -> None:
    """nanoGPT's ``GPT(config)``, written out as the draws it makes on the global generator.

    Its layers' default initialisations in construction order (embeddings: normal; linears:
    Kaiming uniform, which draws as ``uniform_``), then N(0, 0.02) for every linear and
    embedding weight in ``apply`` order (the tied token/output matrix twice), then the two
    residual projections of each block once more.
    """
    block_linears = [(3 * DIM, DIM), (DIM, DIM), (4 * DIM, DIM), (DIM, 4 * DIM)]  # qkv, proj, fc, out
    for shape, draw in [((VOCAB, DIM), "normal_"), ((BLOCK, DIM), "normal_")]:
        getattr(torch.empty(shape), draw)()
    for shape in block_linears * LAYERS + [(VOCAB, DIM)]:
        torch.empty(shape).uniform_()
    for shape in [(VOCAB, DIM), (BLOCK, DIM)] + block_linears * LAYERS + [(VOCAB, DIM)]:
        torch.empty(shape).normal_()
    for shape in [(DIM, DIM), (DIM, 4 * DIM)] * LAYERS:
        torch.empty(shape).normal_()


def test_minimal_gpt_leaves_the_generator_where_nanogpt_does():
    benchmark = load_benchmark()
    torch.manual_seed(1337)
    benchmark.MinimalGPT(VOCAB, BLOCK, DIM, HEADS, LAYERS)
    after_ours = torch.randint(10**6, (16,))
    torch.manual_seed(1337)
    draw_as_nanogpt_initialises()
    after_nanogpt = torch.randint(10**6, (16,))
    assert torch.equal(after_ours, after_nanogpt)


def test_minimal_gpt_initialises_like_gpt2():
    model = load_benchmark().MinimalGPT(VOCAB, BLOCK, DIM, HEADS, LAYERS)
    assert model.head.weight is model.tokens.weight
    assert abs(model.tokens.weight.std().item() - 0.02) < 0.002
    residual_std = 0.02 / (2 * LAYERS) ** 0.5
    for block in model.blocks:
        assert abs(block.qkv.weight.std().item() - 0.02) < 0.002
        assert abs(block.fc_out.weight.std().item() - residual_std) < 0.001


def test_nanogpt_batches_follow_its_training_loop():
    benchmark = load_benchmark()
    train_ids, val_ids = torch.arange(5000), torch.arange(10_000, 11_000)
    torch.manual_seed(0)
    train_batches, val_batches = benchmark.nanogpt_batches(train_ids, val_ids, steps=3)

    torch.manual_seed(0)  # nanoGPT's loop for 3 updates, evaluating before update 0 and after 3

    def draw(ids, count=1):
        return [random_windows(ids, BLOCK, benchmark.BATCH_SIZE) for _ in range(count)]

    expected_train = draw(train_ids)  # the batch of update 0
    draw(train_ids, 20)  # its training-loss estimate
    expected_val = {0: draw(val_ids, 20)}
    expected_train += draw(train_ids, 3)  # the batches of updates 1, 2, 3 (3 is never trained on)
    draw(train_ids, 20)
    expected_val[3] = draw(val_ids, 20)

    assert len(train_batches) == 3 and sorted(val_batches) == [0, 3]
    for got, want in zip(train_batches, expected_train[:3], strict=True):
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    for done in (0, 3):
        for got, want in zip(val_batches[done], expected_val[done], strict=True):
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert torch.equal(train_batches[0][1][:, :-1], train_batches[0][0][:, 1:])  # y is x shifted
