"""Sentence classifiers measured by k-fold cross-validation: chapter 04's protocol on MR.

MR has no test split, so each of its 10 folds is the test set once. For every fold the other
nine are split into a training and a validation part; the vocabulary, the idf weights and every
choice (the number of steps, the best epoch) come from those two, and the test fold is read
once, at the end. Chapter 04 writes each piece inline and asserts that this module gives the
same numbers; ``benchmarks/mr_cross_validation.py`` runs all ten folds of both models.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data import make_loader
from course_lib.device import seed_everything
from course_lib.embeddings import tfidf_fit, tfidf_transform
from course_lib.models.cnn import KimCNN
from course_lib.text import Vocab
from course_lib.training import Optimizers, TrainConfig, train


@dataclass(frozen=True)
class LabelledSentences:
    """Tokenised sentences with a label (0/1) and a fold number each, as ``load_mr`` gives them."""

    tokens: list[list[str]]
    labels: list[int]
    folds: list[int]

    @classmethod
    def from_split(cls, split) -> LabelledSentences:
        """From a split with columns text (space-separated tokens), label and fold."""
        return cls([text.split() for text in split["text"]], list(split["label"]), list(split["fold"]))

    def __post_init__(self):
        if not len(self.tokens) == len(self.labels) == len(self.folds):
            raise ValueError(f"{len(self.tokens)} sentences but {len(self.labels)} labels and "
                             f"{len(self.folds)} folds: give one label and one fold per sentence")


def fold_split(folds: Sequence[int], test_fold: int, dev_share: float = 0.1):
    """Indices ``(train, validation, test)``: ``test`` is the fold ``test_fold``; validation is a
    ``dev_share`` of the other folds, shuffled with ``random.Random(test_fold)``."""
    if test_fold not in set(folds):
        raise ValueError(f"there is no fold {test_fold}; the folds are {sorted(set(folds))}")
    rest = [i for i, f in enumerate(folds) if f != test_fold]
    test = [i for i, f in enumerate(folds) if f == test_fold]
    random.Random(test_fold).shuffle(rest)
    n_dev = int(dev_share * len(rest))
    return rest[n_dev:], rest[:n_dev], test


def uni_and_bigrams(tokens: list[str]) -> list[str]:
    """The tokens followed by every pair of neighbours, written ``"a b"``."""
    return tokens + [f"{a} {b}" for a, b in zip(tokens[:-1], tokens[1:], strict=True)]


def tfidf_logistic_regression(data: LabelledSentences, test_fold: int, steps: int = 60,
                              lr: float = 0.1) -> tuple[float, int]:
    """Test accuracy of logistic regression on TF-IDF uni+bigrams, and its number of features.

    Vocabulary and idf come from the training part; full-batch Adam for ``steps`` steps from
    zero weights and bias, keeping the weights of the best validation accuracy (checked every 5 steps).
    """
    parts = dict(zip(("train", "dev", "test"), fold_split(data.folds, test_fold), strict=True))
    docs = {name: [uni_and_bigrams(data.tokens[i]) for i in idx] for name, idx in parts.items()}
    terms, idf = tfidf_fit(docs["train"])
    X = {name: tfidf_transform(part_docs, terms, idf) for name, part_docs in docs.items()}  # sparse (N, F)
    y = {name: torch.tensor([data.labels[i] for i in idx]) for name, idx in parts.items()}  # (N,)
    linear = nn.Linear(len(terms), 2)
    nn.init.zeros_(linear.weight)  # a convex problem: start from zero, independent of any seed
    nn.init.zeros_(linear.bias)

    def logits(features):  # (N, 2)
        return torch.sparse.mm(features, linear.weight.T) + linear.bias

    optimizer = torch.optim.Adam(linear.parameters(), lr=lr)
    best_acc, best_state = -1.0, None
    for step in range(1, steps + 1):
        loss = F.cross_entropy(logits(X["train"]), y["train"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 5 == 0:
            with torch.no_grad():
                dev_acc = (logits(X["dev"]).argmax(1) == y["dev"]).float().mean().item()
            if dev_acc > best_acc:
                best_acc, best_state = dev_acc, copy.deepcopy(linear.state_dict())
    if best_state is None:
        raise ValueError(f"steps={steps}: validation is checked every 5 steps, so give at least 5")
    linear.load_state_dict(best_state)
    with torch.no_grad():
        return (logits(X["test"]).argmax(1) == y["test"]).float().mean().item(), len(terms)


def classifier_accuracy(model: nn.Module, data, pad_id: int, device: torch.device,
                        batch_size: int = 500) -> float:
    """Share of ``(ids, label)`` pairs whose label is the model's argmax (eval mode, no grad)."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for batch in make_loader(data, batch_size, pad_id=pad_id, shuffle=False):
            correct += (model(batch.src.to(device)).argmax(-1).cpu() == batch.labels).sum().item()
    return correct / len(data)


def kim_cnn_fold(data: LabelledSentences, test_fold: int, epochs: int, device: torch.device) -> dict:
    """Train Kim's CNN-rand on one fold's training part and return its test accuracy.

    Kim's settings: 300-d embeddings initialised in +-0.25, filters of widths 3, 4, 5 (100
    each), dropout 0.5, batches of 50, max-norm 3 on the output rows; Adam (sparse for the
    embeddings), lr 1e-3 decayed to 1e-4. The epoch of best validation accuracy is kept.
    Returns test_acc, dev_acc, dev_curve (validation accuracy by epoch), seconds, and the
    model, vocab and encoded test_data for inspection.
    """
    if epochs < 1:
        raise ValueError(f"epochs={epochs}: the best epoch is chosen on validation, so train at least one")
    train_idx, dev_idx, test_idx = fold_split(data.folds, test_fold)
    vocab = Vocab.build([data.tokens[i] for i in train_idx])  # training part only

    def encode(indices):
        return [(vocab.encode(data.tokens[i]), data.labels[i]) for i in indices]

    train_data, dev_data, test_data = encode(train_idx), encode(dev_idx), encode(test_idx)
    loader = make_loader(train_data, batch_size=50, pad_id=vocab.pad_id, seed=test_fold,
                         lengths=[len(ids) for ids, _ in train_data])
    seed_everything(test_fold)
    model = KimCNN(len(vocab), embed_dim=300, kernel_sizes=(3, 4, 5), num_filters=100,
                   dropout=0.5, pad_id=vocab.pad_id).to(device)
    with torch.no_grad():
        nn.init.uniform_(model.embedding.weight, -0.25, 0.25)
        model.embedding.weight[vocab.pad_id] = 0
    model.embedding.sparse = True  # a batch touches ~1,000 of the table's rows: update only those
    others = [p for name, p in model.named_parameters() if name != "embedding.weight"]
    optimizer = Optimizers(torch.optim.SparseAdam([model.embedding.weight], lr=1e-3),
                           torch.optim.Adam(others, lr=1e-3))
    best = {"dev_acc": -1.0}

    def select_on_validation(model):  # after every epoch: remember the best weights
        dev_acc = classifier_accuracy(model, dev_data, vocab.pad_id, device)
        if dev_acc > best["dev_acc"]:
            best.update(dev_acc=dev_acc, state=copy.deepcopy(model.state_dict()))
        return {"dev_acc": dev_acc}

    history = train(model, lambda m, b: F.cross_entropy(m(b.src), b.labels), loader,
                    TrainConfig(max_steps=epochs * len(loader), lr=1e-3, min_lr=1e-4, grad_clip=None,
                                eval_every=len(loader), seed=test_fold, progress=False),
                    eval_fn=select_on_validation, optimizer=optimizer,
                    after_step=lambda m: m.apply_max_norm(3.0))
    model.load_state_dict(best["state"])
    return dict(test_acc=classifier_accuracy(model, test_data, vocab.pad_id, device),
                dev_acc=best["dev_acc"], dev_curve=history.metric("dev_acc")[1],
                seconds=history.seconds, model=model, vocab=vocab, test_data=test_data)
