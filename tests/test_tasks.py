"""Synthetic tasks and Multi30k tokenisation: answers, conventions, reproducibility."""

import os

import pytest
import torch

from course_lib.data import make_loader
from course_lib.decoding import greedy_decode, tokens_until_eos
from course_lib.models.seq2seq import Seq2Seq
from course_lib.tasks import (
    accuracy_by_length,
    make_task,
    sequence_accuracy,
    task_answer,
    task_vocab,
)
from course_lib.text import Vocab
from course_lib.translation import build_translation_data, detokenize, tokenize, translate


def test_vocab_is_specials_then_symbols():
    vocab = task_vocab(12)
    assert vocab.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert vocab.itos[4:] == list("0123456789ab")
    with pytest.raises(ValueError, match="vocab_size"):
        task_vocab(37)


@pytest.mark.parametrize("task", ["copy", "reverse", "sort"])
def test_pairs_follow_the_convention_and_the_task(task):
    vocab = task_vocab(5)
    pairs = make_task(task, 300, min_len=2, max_len=7, vocab_size=5, seed=3)
    assert len(pairs) == 300
    lengths = set()
    for src, tgt in pairs:
        assert src[-1] == vocab.eos_id and tgt[0] == vocab.bos_id and tgt[-1] == vocab.eos_id
        symbols, answer = src[:-1], tgt[1:-1]
        lengths.add(len(symbols))
        assert all(4 <= s < 9 for s in symbols)
        assert answer == task_answer(task, symbols)
    assert lengths == set(range(2, 8))  # every length in the range occurs
    assert make_task(task, 300, min_len=2, max_len=7, vocab_size=5, seed=3) == pairs
    assert make_task(task, 300, min_len=2, max_len=7, vocab_size=5, seed=4) != pairs


def test_task_answers_by_hand():
    vocab = task_vocab(10)
    ids = vocab.encode(list("3917"))
    assert vocab.decode(task_answer("reverse", ids)) == list("7193")
    assert vocab.decode(task_answer("sort", ids)) == list("1379")
    assert vocab.decode(task_answer("copy", ids)) == list("3917")
    with pytest.raises(ValueError, match="Unknown task"):
        make_task("shuffle", 3)
    with pytest.raises(ValueError, match="min_len"):
        make_task("copy", 3, min_len=5, max_len=2)


def test_pairs_batch_with_make_loader():
    vocab = task_vocab(4)
    pairs = make_task("reverse", 10, max_len=4, vocab_size=4)
    batch = next(iter(make_loader(pairs, 10, pad_id=vocab.pad_id, shuffle=False)))
    assert batch.tgt[:, 0].eq(vocab.bos_id).all()
    assert batch.src_lengths.tolist() == [len(src) for src, _ in pairs]


def test_sequence_accuracy_and_by_length():
    predictions = [[1, 2], [3], [4, 5, 6], [7]]
    targets = [[1, 2], [9], [4, 5, 6], [7, 7]]
    assert sequence_accuracy(predictions, targets) == 0.5
    by_length = accuracy_by_length(predictions, targets, lengths=[2, 1, 3, 1])
    assert by_length == {1: 0.0, 2: 1.0, 3: 1.0}
    assert list(by_length) == [1, 2, 3]
    with pytest.raises(ValueError, match="predictions but"):
        sequence_accuracy([[1]], [[1], [2]])
    with pytest.raises(ValueError, match="empty"):
        sequence_accuracy([], [])
    with pytest.raises(ValueError, match="lengths"):
        accuracy_by_length(predictions, targets, [1, 2])


def test_tokenize_keeps_umlauts_and_hyphenated_words():
    assert tokenize("Ein Mädchen im T-Shirt läuft über die Straße.") == [
        "ein", "mädchen", "im", "t-shirt", "läuft", "über", "die", "straße", "."]
    assert tokenize("A man's dog, (brown)!") == ["a", "man", "'", "s", "dog", ",", "(", "brown", ")", "!"]


def test_detokenize_inverts_tokenize_on_plain_sentences():
    for sentence in ["a man's dog, in a t-shirt, runs (fast)!", "two girls don't play soccer ."]:
        assert detokenize(tokenize(sentence)) == sentence.replace(" .", ".")
    with pytest.raises(TypeError):
        detokenize("a man")


SAMPLE = {
    "train": {"de": ["Ein Hund läuft.", "Ein Hund schläft.", "Zwei Männer laufen."],
              "en": ["A dog runs.", "A dog sleeps.", "Two men run."]},
    "test": {"de": ["Ein Pferd läuft."], "en": ["A horse runs."]},
}


def test_translation_data_on_a_tiny_sample():
    data = build_translation_data(SAMPLE, min_freq=2)
    # train only, seen twice or more: "ein", "hund", "." in German; "a", "dog", "." in English
    assert set(data.src_vocab.itos[4:]) == {"ein", "hund", "."}
    assert set(data.tgt_vocab.itos[4:]) == {"a", "dog", "."}
    src, tgt = data["test"][0]
    assert data.src_vocab.decode(src, skip_specials=False) == ["ein", "<unk>", "<unk>", ".", "<eos>"]
    assert data.tgt_vocab.decode(tgt, skip_specials=False) == ["<bos>", "a", "<unk>", "<unk>", ".", "<eos>"]
    assert [len(data[split]) for split in ("train", "test")] == [3, 1]
    with pytest.raises(KeyError, match="No split"):
        data["validation"]
    with pytest.raises(ValueError, match="train"):
        build_translation_data({"test": SAMPLE["test"]})
    with pytest.raises(KeyError, match="fr"):
        build_translation_data(SAMPLE, tgt_lang="fr")


@pytest.mark.slow  # ~4 s: reads and indexes all of Multi30k
@pytest.mark.skipif(not os.environ.get("COURSE_DATA_DIR"), reason="needs COURSE_DATA_DIR (corpus mirror)")
def test_multi30k_translation_data():
    from course_lib.translation import load_multi30k_translation

    data = load_multi30k_translation()
    sizes = {split: len(pairs) for split, pairs in data.splits.items()}
    print(f"Multi30k de-en: {sizes}, vocab de {len(data.src_vocab):,}, en {len(data.tgt_vocab):,}")
    assert sizes == {"train": 29_000, "validation": 1_014, "test": 1_000}
    assert 5_000 < len(data.src_vocab) < 12_000 and 4_000 < len(data.tgt_vocab) < 9_000


def test_translate_is_greedy_decoding_detokenised_and_beam_one_agrees():
    torch.manual_seed(0)
    src_vocab = Vocab.build([["ein", "hund", "läuft", "."]])
    tgt_vocab = Vocab.build([["a", "dog", "runs", ".", "'", "s"]])
    model = Seq2Seq(len(src_vocab), len(tgt_vocab), embed_dim=8, hidden_size=16,
                    pad_id=tgt_vocab.pad_id)
    pairs = [(src_vocab.encode(["ein", "hund", "."]), [0]), (src_vocab.encode(["läuft"]), [0])]
    src = torch.tensor([pairs[0][0], pairs[1][0] + [src_vocab.pad_id] * 2])
    ids = greedy_decode(model, src, torch.tensor([3, 1]), 7, tgt_vocab.bos_id, tgt_vocab.eos_id)
    expected = [detokenize(tgt_vocab.decode(row)) for row in tokens_until_eos(ids, tgt_vocab.eos_id)]
    assert translate(model, pairs, src_vocab, tgt_vocab, max_len=7, batch_size=1) == expected
    beam_one = translate(model, pairs, src_vocab, tgt_vocab, beam_size=1, length_penalty=0.5,
                         max_len=7)
    assert beam_one == expected


# --- delayed recall (chapters 06 and 11) ---------------------------------------------------------
def test_recall_batch_is_symbol_noise_query():
    from course_lib.tasks import RECALL_QUERY, RECALL_SYMBOLS, recall_batch

    x, y = recall_batch(7, 50, torch.Generator().manual_seed(0))
    assert x.shape == (50, 9) and y.shape == (50,)
    assert torch.equal(x[:, 0], y) and bool((y < RECALL_SYMBOLS).all())
    noise = x[:, 1:-1]
    assert bool(((noise >= RECALL_SYMBOLS) & (noise < RECALL_QUERY)).all())
    assert bool((x[:, -1] == RECALL_QUERY).all())
    again, _ = recall_batch(7, 50, torch.Generator().manual_seed(0))
    assert torch.equal(x, again)
    assert recall_batch(0, 3, torch.Generator())[0].shape == (3, 2)  # no delay: symbol, query
    for bad in (-1, 2.0, True):
        with pytest.raises(ValueError, match="delay must be an int >= 0"):
            recall_batch(bad, 4, torch.Generator())


def test_recall_rnn_sizes_and_open_memory_gate():
    from course_lib.tasks import RecallRNN

    lstm = RecallRNN("lstm")
    # embedding 17 x 16; LSTM 4 gates x 64 x (16 + 64) weights and two biases; head 64 x 8 + 8
    assert sum(p.numel() for p in lstm.parameters()) == 17 * 16 + 4 * 64 * (16 + 64) + 2 * 4 * 64 + 64 * 8 + 8
    forget = lstm.rnn.bias_hh_l0[64:128].detach()
    assert float(forget.min()) > 4.0 and float(lstm.rnn.bias_hh_l0[:64].detach().abs().max()) < 1.0
    rnn = RecallRNN("rnn")
    assert float(rnn.rnn.bias_hh_l0.detach().abs().max()) < 1.0  # no gate to open
    assert RecallRNN("gru")(torch.zeros(2, 5, dtype=torch.long)).shape == (2, 8)
    with pytest.raises(ValueError, match="cell"):
        RecallRNN("transformer")


def test_recall_accuracy_short_delay_is_learned_and_reproducible():
    from course_lib.tasks import RecallRNN, recall_accuracy

    first = recall_accuracy(lambda: RecallRNN("lstm"), delay=2, steps=150)
    assert first > 0.95  # a delay of 2 is easy: chance is 0.125
    assert recall_accuracy(lambda: RecallRNN("lstm"), delay=2, steps=150) == first
