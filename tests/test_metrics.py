"""Metrics: BLEU/chrF against sacrebleu's known values, perplexity, distinct-n, accuracy."""

import math

import pytest
import torch

from course_lib.metrics import (
    accuracy,
    corpus_bleu,
    corpus_chrf,
    distinct_n,
    metric_signature,
    perplexity,
)

HYPS = ["the cat sat on the mat .", "a dog runs in the park ."]
REFS = ["The cat sat on the mat .", "A dog is running in a park ."]


def test_bleu_known_answers():
    assert corpus_bleu(REFS, REFS) == pytest.approx(100.0)
    assert corpus_bleu(["x y z w"], ["a b c d"]) == pytest.approx(0.0)
    # one 4-token hypothesis, reference of 4: 3/4 unigrams, 2/3 bigrams, 1/2 trigrams, 0/1
    # 4-grams; sacrebleu's default "exp" smoothing makes the zero count 1/2: (1/2)/1
    expected = 100 * (3 / 4 * 2 / 3 * 1 / 2 * 1 / 2) ** 0.25
    assert corpus_bleu(["a b c x"], ["a b c d"]) == pytest.approx(expected, abs=1e-6)


def test_lowercase_matters_and_is_the_default():
    assert corpus_bleu(HYPS[:1], REFS[:1]) == pytest.approx(100.0)
    assert corpus_bleu(HYPS[:1], REFS[:1], lowercase=False) < 100.0
    assert corpus_chrf(HYPS[:1], REFS[:1]) == pytest.approx(100.0)
    assert corpus_chrf(HYPS[:1], REFS[:1], lowercase=False) < 100.0
    assert 0 < corpus_chrf(HYPS, REFS) < 100


def test_signature_names_the_settings():
    signature = metric_signature("bleu")
    assert "nrefs:1" in signature and "case:lc" in signature and "tok:13a" in signature
    assert "case:mixed" in metric_signature("chrf", lowercase=False)
    with pytest.raises(ValueError, match="Unknown metric"):
        metric_signature("rouge")


def test_corpus_metric_errors():
    with pytest.raises(ValueError, match="1 hypotheses but 2 references"):
        corpus_bleu(HYPS[:1], REFS)
    with pytest.raises(ValueError, match="empty"):
        corpus_chrf([], [])
    with pytest.raises(TypeError, match="not one string"):
        corpus_bleu("the cat", "the cat")
    with pytest.raises(TypeError, match="detokenize"):
        corpus_bleu([["the", "cat"]], ["the cat"])


def test_perplexity():
    assert perplexity(0.0) == 1.0
    assert perplexity(math.log(50)) == pytest.approx(50)
    assert perplexity(torch.tensor(math.log(7))) == pytest.approx(7)
    assert perplexity(1e6) == math.inf
    with pytest.raises(ValueError):
        perplexity(-0.1)
    with pytest.raises(ValueError):
        perplexity(float("nan"))


def test_distinct_n():
    samples = [["a", "b", "a", "b"], ["a", "b"]]
    assert distinct_n(samples, 1) == pytest.approx(2 / 6)
    assert distinct_n(samples, 2) == pytest.approx(2 / 4)  # ab, ba, ab | ab: never across samples
    assert distinct_n([[1, 2, 3]], 3) == 1.0
    with pytest.raises(TypeError, match="not a string"):
        distinct_n(["abc"], 1)
    with pytest.raises(ValueError, match="no sample"):
        distinct_n([["a"]], 2)
    with pytest.raises(ValueError):
        distinct_n([], 1)
    with pytest.raises(ValueError):
        distinct_n([["a"]], 0)


def test_accuracy():
    assert accuracy([1, 2, 3, 4], [1, 2, 0, 0]) == 0.5
    targets = torch.tensor([[1, 2, 0], [3, 0, 0]])
    predictions = torch.tensor([[1, 5, 0], [3, 0, 0]])
    assert accuracy(predictions, targets, ignore_index=0) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="same shape"):
        accuracy([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="no positions"):
        accuracy([], [])
    with pytest.raises(ValueError, match="no positions"):
        accuracy([0, 0], [0, 0], ignore_index=0)


def test_scored_nats_counts_each_scored_target_once_and_refuses_nothing_to_score():
    from course_lib.metrics import scored_nats

    class Fixed(torch.nn.Module):  # log-probabilities log(0.5), log(0.25), log(0.25) everywhere
        def __init__(self):
            super().__init__()
            self.logits = torch.nn.Parameter(torch.tensor([0.5, 0.25, 0.25]).log())

        def forward(self, x):
            return self.logits.expand(*x.shape, 3)

    x = torch.zeros(2, 3, dtype=torch.long)
    y = torch.tensor([[0, -100, -100], [1, 2, -100]])  # rows of unequal length: 3 targets in all
    expected = -(math.log(0.5) + 2 * math.log(0.25)) / 3
    assert scored_nats(Fixed(), x, y, batch_size=1) == pytest.approx(expected)
    with pytest.raises(ValueError, match="nothing to score"):
        scored_nats(Fixed(), x, torch.full_like(y, -100))
    with pytest.raises(ValueError, match="one shape"):
        scored_nats(Fixed(), x, y[:, :2])
