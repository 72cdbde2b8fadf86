"""Stream batches continue each other; the carried-state loss and stream evaluation are exact."""

import pytest
import torch
from torch.nn import functional as F

from course_lib.lm import CarriedStateLoss, contiguous_batches, next_token_loss
from course_lib.metrics import stream_nats, window_nats
from course_lib.models.rnn import RNNLanguageModel


def test_rows_of_consecutive_batches_continue_the_stream():
    ids = torch.arange(50)
    batches = contiguous_batches(ids, batch_size=3, seq_len=4)
    rows = [torch.cat([x[b] for x, _ in batches]) for b in range(3)]
    assert torch.equal(torch.cat(rows), ids[: 3 * 16])  # (50 - 1) // 3 = 16 columns per row
    for x, y in batches:
        assert torch.equal(y, x + 1)  # targets are the next token
    assert [x.shape[1] for x, _ in batches] == [4, 4, 4, 4]


def test_bad_streams_are_refused():
    with pytest.raises(ValueError, match="1-D"):
        contiguous_batches(torch.zeros(2, 5, dtype=torch.long), 2, 3)
    with pytest.raises(ValueError, match="too short"):
        contiguous_batches(torch.arange(3), 5, 3)


def test_stream_nats_equals_one_long_pass_per_row():
    torch.manual_seed(0)
    model = RNNLanguageModel(11, embed_dim=4, hidden_size=8, cell="gru")
    ids = torch.randint(0, 11, (203,))
    rows = contiguous_batches(ids, batch_size=4, seq_len=1000)[0]  # one batch: whole rows
    with torch.no_grad():
        logits, _ = model(rows[0])
    expected = F.cross_entropy(logits.reshape(-1, 11), rows[1].reshape(-1)).item()
    assert stream_nats(model, ids, num_streams=4, chunk=7) == pytest.approx(expected, rel=1e-5)
    assert model.training


def test_carried_state_loss_resets_on_first_batches():
    torch.manual_seed(0)
    model = RNNLanguageModel(7, embed_dim=4, hidden_size=5, cell="lstm")
    x, y = torch.randint(0, 7, (2, 6)), torch.randint(0, 7, (2, 6))
    loss_fn = CarriedStateLoss()
    fresh = loss_fn(model, (x, y, True))
    carried = loss_fn(model, (x, y, False))
    again = loss_fn(model, (x, y, True))
    assert torch.equal(fresh, again) and not torch.equal(fresh, carried)
    assert fresh.item() == pytest.approx(next_token_loss(model, (x, y)).item())


class Bigram(torch.nn.Module):
    """Logits depend on the current token only, so any windowing must give the plain stream NLL."""

    def __init__(self, vocab_size=11):
        super().__init__()
        torch.manual_seed(0)
        self.table = torch.nn.Embedding(vocab_size, vocab_size)

    def forward(self, tokens):  # (B, T) -> (B, T, V)
        return self.table(tokens)


@pytest.mark.parametrize("n, block_size", [(50, 8), (51, 8), (23, 5), (10, 9)])
def test_window_nats_scores_every_token_once(n, block_size):
    model = Bigram().train()
    ids = torch.randint(0, 11, (n,), generator=torch.Generator().manual_seed(n))
    expected = F.cross_entropy(model(ids[None, :-1])[0], ids[1:]).item()
    assert window_nats(model, ids, block_size, batch_size=3) == pytest.approx(expected, rel=1e-6)
    assert model.training  # the mode is restored


def test_window_nats_refuses_a_short_stream():
    with pytest.raises(ValueError, match="longer than block_size"):
        window_nats(Bigram(), torch.arange(5), block_size=5)
