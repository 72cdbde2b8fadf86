"""Chapter 13's extractive model: ROUGE-stem labels, the best span against brute force, the
tagger's padding and errors, and a tiny training run that must find the subject's span."""

import itertools
from dataclasses import replace

import pytest
import torch
from datasets import Dataset, DatasetDict

from course_lib.extraction import (
    best_span,
    body_words,
    build_extraction_data,
    copy_labels,
    copy_probabilities,
    copy_tagging_loss,
    extract_subjects,
    rouge_stem,
    train_copy_tagger,
)
from course_lib.models.extractor import CopyTagger
from course_lib.recipes import AESLC_COPY_TAGGER, Optimisation, frozen

TINY = frozen(embed_dim=16, hidden_size=16, num_layers=1, cell="gru", dropout=0.0)


def brute_force_span(scores, max_span):
    spans = [(i, j) for i in range(len(scores)) for j in range(i + 1, min(len(scores), i + max_span) + 1)]
    # the largest sum; ties: shortest, then earliest
    return max(spans, key=lambda s: (round(sum(scores[s[0]:s[1]]), 9), -(s[1] - s[0]), -s[0]))


def test_best_span_agrees_with_brute_force():
    generator = torch.Generator().manual_seed(0)
    for length, max_span in itertools.product((1, 2, 5, 13), (1, 3, 8, 20)):
        for _ in range(20):
            scores = torch.randn(length, generator=generator)
            assert best_span(scores, max_span) == brute_force_span(scores.tolist(), max_span)


def test_best_span_known_answers_and_ties():
    assert best_span(torch.tensor([-1.0, 2.0, -0.5, 2.0, -3.0]), 5) == (1, 4)  # 3.5 beats 2.0
    assert best_span(torch.tensor([-1.0, 2.0, -0.5, 2.0, -3.0]), 2) == (1, 2)  # the first 2.0
    assert best_span(torch.tensor([-2.0, -1.0, -3.0]), 3) == (1, 2)  # all negative: the best word
    assert best_span(torch.tensor([1.0, 0.0, 0.0]), 3) == (0, 1)  # zeros add nothing: shortest
    for bad in (torch.tensor([]), torch.zeros(2, 2)):
        with pytest.raises(ValueError, match="non-empty 1-D"):
            best_span(bad, 3)
    with pytest.raises(ValueError, match="max_span >= 1"):
        best_span(torch.ones(3), 0)


def test_copy_labels_use_rouges_stems():
    assert rouge_stem("Meetings") == rouge_stem("meeting") == "meet"
    assert rouge_stem("was") == "was"  # 3 letters or fewer: not stemmed, as rouge-score does
    words = ["The", "meeting", "moved", "to", "Friday", "meetings"]
    assert copy_labels(words, "Meetings moved!") == [0, 1, 1, 0, 0, 1]
    assert copy_labels(words, "") == [0] * 6


def test_body_words_keep_offsets_and_stop_at_max_words():
    body = "Hi all,\n the 3pm call -- moved."
    words = body_words(body, 4)
    assert [w.group() for w in words] == ["Hi", "all", "the", "3pm"]
    assert body[words[1].start():words[3].end()] == "all,\n the 3pm"


def dataset(rows_train, rows_dev=None):
    return DatasetDict({"train": Dataset.from_dict(rows_train), "validation": Dataset.from_dict(rows_dev or rows_train)})


def test_extraction_data_vocab_from_train_only_and_no_email_lost():
    train = {"body": ["budget draft attached", "budget review"], "subject": ["Budget", "review"]}
    dev = {"body": ["zebra budget", "--- ..."], "subject": ["zebra", "empty"]}
    data = build_extraction_data(dataset(train, dev), min_freq=1)
    assert "zebra" not in data.vocab and "budget" in data.vocab
    ids, labels = data["validation"][0]
    assert ids == [data.vocab.unk_id, data.vocab.stoi["budget"]] and labels == [1, 0]
    assert data["validation"][1] == ([data.vocab.unk_id], [0])  # no word: kept, one <unk>
    assert build_extraction_data(dataset(train), min_freq=2).vocab.itos == ["<pad>", "<unk>", "budget"]
    with pytest.raises(ValueError, match="max_words and min_freq must be >= 1"):
        build_extraction_data(dataset(train), max_words=0)


def test_tagger_ignores_padding_and_rejects_bad_input():
    torch.manual_seed(0)
    model = CopyTagger(20, **TINY).eval()
    src = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]])
    logits = model(src, torch.tensor([3, 5]))
    assert logits.shape == (2, 5)
    alone = model(src[:1, :3], torch.tensor([3]))
    assert torch.allclose(logits[0, :3], alone[0], atol=1e-6)
    with pytest.raises(ValueError, match="src ids must be in"):
        model(torch.tensor([[25]]), torch.tensor([1]))
    with pytest.raises(ValueError, match="src_lengths must be in"):
        model(src, torch.tensor([0, 5]))


def test_loss_counts_real_words_only():
    torch.manual_seed(0)
    model = CopyTagger(20, **TINY).eval()
    train = {"body": ["a b c", "d e"], "subject": ["b", "e"]}
    data = build_extraction_data(dataset(train), min_freq=1)
    from course_lib.data import make_loader

    [batch] = list(make_loader(data["train"], 2, pad_id=0, shuffle=False))
    loss = copy_tagging_loss(model, batch)
    by_hand = torch.cat([
        torch.nn.functional.binary_cross_entropy_with_logits(
            model(torch.tensor([ids]), torch.tensor([len(ids)]))[0], torch.tensor(labels, dtype=torch.float),
            reduction="none")
        for ids, labels in data["train"]]).mean()
    assert torch.allclose(loss, by_hand, atol=1e-6)


def test_a_tiny_tagger_learns_to_cut_the_subjects_span():
    bodies = ["Hi Ann, the Budget Draft is attached. Thanks", "Dear all: lunch on Friday, noon. Bob",
              "Hi Bob, the Board Meeting moved. Thanks", "Dear all: drinks on Monday, six. Ann"]
    subjects = ["budget draft", "lunch friday", "board meeting", "drinks monday"]
    data = build_extraction_data(dataset({"body": bodies * 4, "subject": subjects * 4}), min_freq=1)
    recipe = replace(AESLC_COPY_TAGGER, sizes=frozen(embed_dim=16, hidden_size=32, num_layers=1, cell="lstm",
                                                     dropout=0.0), batch_size=4,
                     optimisation=Optimisation(lr=1e-2, min_lr=1e-3))
    lines = []
    model, history = train_copy_tagger(recipe, data, steps=120, log=lines.append)
    assert history.steps[-1] == 120 and lines[0].endswith("training 120 steps = 30.0 epochs")
    losses = history.metric("val_loss")[1]
    assert losses[-1] < 0.1 * losses[0]
    # spans cut from the body as written: "on" is not a subject word, but with a threshold of
    # 0.2 "lunch on Friday" gains about 0.8 + 0.8 - 0.2 against 0.8 for "lunch" alone
    assert extract_subjects(model, bodies, data.vocab, 0.2, 4) == [
        "Budget Draft", "lunch on Friday", "Board Meeting", "drinks on Monday"]
    # at 0.5 "on" costs as much as "Friday" brings: the shorter span wins
    assert extract_subjects(model, bodies, data.vocab, 0.5, 4)[::2] == ["Budget Draft", "Board Meeting"]
    p = copy_probabilities(model, data["validation"][:4])
    assert extract_subjects(None, bodies, data.vocab, 0.2, 4, probabilities=p) == extract_subjects(
        model, bodies, data.vocab, 0.2, 4)
    assert all(len(text.split()) == 1 for text in extract_subjects(model, bodies, data.vocab, 0.2, 1))
    assert extract_subjects(model, ["...", ""], data.vocab, 0.5, 4) == ["", ""]
    with pytest.raises(ValueError, match="2 probability rows for 4 bodies"):
        extract_subjects(None, bodies, data.vocab, 0.5, 4, probabilities=p[:2])
    with pytest.raises(ValueError, match="a plan replays a budgeted run"):
        train_copy_tagger(recipe, data, plan=[(0, 10)])
    lines.clear()
    train_copy_tagger(recipe, data, steps=2, batch_size=8, log=lines.append)
    assert lines[0].endswith("training 2 steps = 1.0 epochs")  # 16 emails in batches of 8
