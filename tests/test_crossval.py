"""course_lib.crossval: chapter 04's cross-validation protocol, on small made-up sentences."""

import random

import pytest
import torch

from course_lib import crossval


def toy_sentences(n: int = 200, num_folds: int = 5) -> crossval.LabelledSentences:
    """Label 1 sentences say "good" somewhere, label 0 ones "bad"; the rest is filler."""
    rng = random.Random(0)
    filler = ["the", "film", "was", "a", "story"]
    tokens, labels = [], []
    for i in range(n):
        label = i % 2
        words = rng.choices(filler, k=rng.randint(2, 5))
        words.insert(rng.randrange(len(words) + 1), "good" if label else "bad")
        tokens.append(words)
        labels.append(label)
    return crossval.LabelledSentences(tokens, labels, [i % num_folds for i in range(n)])


def test_fold_split_partitions_without_touching_the_test_fold():
    folds = [i % 4 for i in range(103)]
    for test_fold in range(4):
        train, dev, test = crossval.fold_split(folds, test_fold, dev_share=0.2)
        assert sorted(train + dev + test) == list(range(103))
        assert set(test) == {i for i, f in enumerate(folds) if f == test_fold}
        assert not set(train) & set(dev)
        assert len(dev) == int(0.2 * (103 - len(test)))
    assert crossval.fold_split(folds, 1) == crossval.fold_split(folds, 1)  # seeded by the fold


def test_fold_split_names_the_folds_that_exist():
    with pytest.raises(ValueError, match=r"no fold 7; the folds are \[0, 1, 2\]"):
        crossval.fold_split([0, 1, 2, 0], 7)


def test_sentences_need_one_label_and_fold_each():
    with pytest.raises(ValueError, match="3 sentences but 2 labels"):
        crossval.LabelledSentences([["a"], ["b"], ["c"]], [0, 1], [0, 1, 2])


def test_from_split_reads_load_mr_columns():
    data = crossval.LabelledSentences.from_split({"text": ["a good film", "bad"], "label": [1, 0],
                                                  "fold": [0, 1]})
    assert data.tokens == [["a", "good", "film"], ["bad"]] and data.labels == [1, 0] and data.folds == [0, 1]


def test_uni_and_bigrams():
    assert crossval.uni_and_bigrams(["not", "good", "at", "all"]) == [
        "not", "good", "at", "all", "not good", "good at", "at all"]
    assert crossval.uni_and_bigrams(["one"]) == ["one"]


def test_logistic_regression_separates_the_cue_word():
    accuracy, num_features = crossval.tfidf_logistic_regression(toy_sentences(), test_fold=0)
    assert accuracy == 1.0
    assert num_features > 12  # 12 words and the bigrams seen in the training part
    with pytest.raises(ValueError, match="at least 5"):
        crossval.tfidf_logistic_regression(toy_sentences(), test_fold=0, steps=3)


def test_kim_cnn_fold_learns_the_cue_word_and_reports_every_epoch():
    result = crossval.kim_cnn_fold(toy_sentences(400), test_fold=1, epochs=5, device=torch.device("cpu"))
    assert result["test_acc"] == 1.0
    assert len(result["dev_curve"]) == 5 and result["dev_acc"] == max(result["dev_curve"])
    assert len(result["test_data"]) == 80
    # the max-norm constraint held after every update
    assert float(result["model"].classifier.weight.detach().norm(dim=1).max()) <= 3.0 + 1e-5
    with pytest.raises(ValueError, match="at least one"):
        crossval.kim_cnn_fold(toy_sentences(), test_fold=1, epochs=0, device=torch.device("cpu"))
