"""Word-sense disambiguation on CoarseWSD-20 with the course's own models: the recipes that
chapter 11 and ``benchmarks/contextual_wsd.py`` share.

Everything is trained on the training sentences only (never the test split): skip-gram vectors
(chapter 03's model), then a bidirectional language model, either two LSTMs (ELMo's recipe,
chapters 05-06) or two GPTs (chapter 09) that read those skip-gram vectors, frozen, as their
word embeddings, each within a wall-clock budget. Senses are then
read off frozen vectors with ``course_lib.contextual``'s nearest sense centroid or logistic
probe, one classifier per ambiguous word, and scored per word (accuracy, macro-F1).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.contextual import (
    BidirectionalLM,
    LogisticProbe,
    hidden_states,
    macro_f1,
    nearest_centroid,
    sense_centroids,
    target_states,
    window_mean,
)
from course_lib.data import random_windows
from course_lib.device import seed_everything
from course_lib.embeddings import NegativeSampler, SkipGram, skipgram_pairs
from course_lib.models.rnn import RNNLanguageModel
from course_lib.models.transformer import GPT
from course_lib.recipes import WSD_LM_RECIPES, BidirectionalLMRecipe
from course_lib.text import Vocab
from course_lib.training import History, TrainConfig, planned_config, train

CLASSIFIERS = ("centroid", "probe")
# The dataset authors' released results (Loureiro et al., 2021), macro-F1 averaged over the 20
# words; nearest sense centroid for BERT, a trained fastText classifier for the static vectors.
PUBLISHED_MACRO_F1 = {"BERT-large, centroid": 0.932, "BERT-base, centroid": 0.910,
                      "fastText, crawl-300d vectors": 0.868, "fastText, 100-d on the data": 0.785}
PUBLISHED_BANK_MACRO_F1 = {"BERT-base, centroid": 0.975, "fastText, 100-d on the data": 0.759}


@dataclass
class Split:
    """One split as plain lists, one entry per sentence: the ambiguous word, the sentence's
    token ids, the word's position and its sense number."""

    words: list[str]
    ids: list[list[int]]
    positions: list[int]
    labels: list[int]

    def rows_of(self, word: str) -> list[int]:
        """The indices of ``word``'s sentences."""
        return [i for i, w in enumerate(self.words) if w == word]


@dataclass
class WSDData:
    """CoarseWSD-20 as ids: a vocabulary built on the training sentences and both splits."""

    vocab: Vocab
    train: Split
    test: Split
    senses: dict[str, list[str]]


def prepare(splits: Mapping, senses: Mapping[str, list[str]], min_freq: int = 3,
            max_per_word: tuple[int, int] | None = None, seed: int = 0) -> WSDData:
    """Ids for ``corpora.load_coarsewsd20()``'s splits: the vocabulary keeps the training
    words seen ``min_freq`` times or more, the rest (and unseen test words) become ``<unk>``.

    ``max_per_word=(n_train, n_test)`` keeps at most that many sentences of each word, drawn
    with ``random.Random(seed)`` and kept in file order (quick mode: a smaller problem with
    every word and, almost always, every sense)."""
    columns = {name: splits[name].to_dict() for name in ("train", "test")}
    if max_per_word is not None:
        rng = random.Random(seed)
        for name, cap in zip(("train", "test"), max_per_word, strict=True):
            rows = columns[name]
            keep = []
            for word in senses:
                mine = [i for i, w in enumerate(rows["word"]) if w == word]
                keep += sorted(rng.sample(mine, min(cap, len(mine))))
            columns[name] = {key: [values[i] for i in keep] for key, values in rows.items()}
    vocab = Vocab.build(columns["train"]["tokens"], min_freq=min_freq)

    def as_split(rows) -> Split:
        return Split(rows["word"], [vocab.encode(t) for t in rows["tokens"]], rows["position"],
                     rows["label"])

    return WSDData(vocab, as_split(columns["train"]), as_split(columns["test"]), dict(senses))


def sentence_stream(sentences: Sequence[Sequence[int]], end_id: int, seed: int = 0) -> torch.Tensor:
    """One stream of ids (N,): the sentences in a shuffled order, each followed by ``end_id``.

    The dataset lists each word's sentences together; shuffling keeps a training window from
    reading the previous sentence about the same word. ``stream.flip(0)`` is the stream for a
    backward model: every reversed sentence then follows an ``end_id``, as it will in
    ``contextual.target_states``.
    """
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    return torch.tensor([i for k in order for i in [*sentences[k], end_id]])


# --- Static vectors --------------------------------------------------------------------------


def train_skipgram(sentences: Sequence[Sequence[int]], vocab: Vocab, steps: int,
                   embed_dim: int = 100, window: int = 5, minutes: float | None = None,
                   seed: int = 0) -> tuple[torch.Tensor, History]:
    """Chapter 03's skip-gram with negative sampling on ``sentences``: (vectors (V, D), history).

    Pairs within ``window`` words after subsampling (t = 1e-3), pairs touching a special token
    dropped, 5 negatives from count^0.75, batches of 1,024 pairs, SparseAdam at 3e-3.
    """
    generator = torch.Generator().manual_seed(seed)
    center, context = skipgram_pairs(sentences, window=window, subsample_t=1e-3, generator=generator)
    specials = torch.tensor([vocab.stoi[s] for s in vocab.specials])
    keep = ~(torch.isin(center, specials) | torch.isin(context, specials))
    center, context = center[keep], context[keep]
    counts = torch.bincount(torch.tensor([i for s in sentences for i in s]), minlength=len(vocab))
    counts[specials] = 0
    sampler = NegativeSampler(counts.double(), power=0.75)

    def batch():
        pick = torch.randint(len(center), (1024,), generator=generator)
        return center[pick], context[pick], sampler.sample(1024, 5, generator=generator)

    seed_everything(seed)
    model = SkipGram(len(vocab), embed_dim)
    model.in_embed.sparse = model.out_embed.sparse = True  # update only the rows in the batch
    config = TrainConfig(max_steps=steps, max_minutes=minutes, lr=3e-3, grad_clip=None,
                         seed=seed, progress=False)
    history = train(model, lambda m, b: m.loss(*b), batch, config,
                    optimizer=torch.optim.SparseAdam(model.parameters(), lr=3e-3))
    return model.word_vectors(), history


# --- Bidirectional language models -----------------------------------------------------------

class AdaptiveBidirectionalLM(BidirectionalLM):
    """A ``BidirectionalLM`` whose two models are trained through adaptive softmax output
    layers (Grave et al., 2017; ``nn.AdaptiveLogSoftmaxWithLoss``) instead of their own.

    With 15,500 words, a full softmax over the vocabulary took most (~85%) of an LSTM training
    step on the course CPU; the adaptive softmax computes the frequent words' scores at every
    position and a rare word's cluster (through a smaller projection) only where it occurs.
    Still exact probabilities. The models' own output layers are tied to their embeddings and
    not trained further: read them with ``contextual``, not with ``model(tokens)``.
    """

    def __init__(self, forward_lm, backward_lm, width: int, vocab_size: int,
                 cutoffs: Sequence[int]):
        super().__init__(forward_lm, backward_lm)
        self.forward_head, self.backward_head = (
            nn.AdaptiveLogSoftmaxWithLoss(width, vocab_size, list(cutoffs), div_value=4.0)
            for _ in range(2))


STATIC_INPUT_LENGTH = 0.5


def make_bidirectional_lm(kind: str, vocab_size: int, recipe: BidirectionalLMRecipe,
                          static_vectors: torch.Tensor | None = None) -> AdaptiveBidirectionalLM:
    """Two fresh models of ``kind`` ("lstm" or "gpt") with ``recipe.sizes``, no
    dropout (a few passes over the data do not overfit), and their adaptive softmaxes (the
    recipe's cutoffs below the vocabulary size; half of it if none is).

    A recipe with ``static_inputs`` needs ``static_vectors`` (V, D): both models' token
    embeddings become those vectors, each scaled to length ``STATIC_INPUT_LENGTH`` (skip-gram's
    are about 3 long, a GPT's own start near 0.2), and stay frozen. ELMo's layer 0 is likewise a
    context-free word vector; here the language models spend their budget on context alone.
    """
    if kind == "lstm":
        make = lambda: RNNLanguageModel(vocab_size, cell="lstm", **recipe.sizes)  # noqa: E731
        width = recipe.sizes["hidden_size"]
    elif kind == "gpt":
        make = lambda: GPT(vocab_size, bias=False, **recipe.sizes)  # noqa: E731
        width = recipe.sizes["embed_dim"]
    else:
        raise ValueError(f"kind must be 'lstm' or 'gpt', got {kind!r}")
    cutoffs = [c for c in recipe.cutoffs if c < vocab_size - 1] or [vocab_size // 2]
    model = AdaptiveBidirectionalLM(make(), make(), width, vocab_size, cutoffs)
    if recipe.static_inputs:
        _freeze_static_inputs(model, kind, static_vectors, (vocab_size, recipe.sizes["embed_dim"]))
    elif static_vectors is not None:
        raise ValueError(f"this {kind} recipe trains its own embeddings (static_inputs=False): "
                         "leave static_vectors out, or use a recipe with static_inputs=True")
    return model


def _freeze_static_inputs(model: BidirectionalLM, kind: str, vectors: torch.Tensor | None,
                          shape: tuple[int, int]) -> None:
    if vectors is None:
        raise ValueError(f"this {kind} recipe reads static vectors (static_inputs=True): pass "
                         f"static_vectors, a {shape} tensor such as wsd.train_skipgram's")
    if tuple(vectors.shape) != shape:
        raise ValueError(f"static_vectors must be (vocab_size, embed_dim) = {shape}, got "
                         f"{tuple(vectors.shape)}: train them on the same vocabulary, with "
                         "embed_dim equal to the recipe's")
    scaled = F.normalize(vectors.float(), dim=1)  # (V, D), each of length 1
    for lm in (model.forward_lm, model.backward_lm):
        embedding = lm.token_embedding if kind == "gpt" else lm.embedding
        with torch.no_grad():
            embedding.weight.copy_(STATIC_INPUT_LENGTH * scaled)
        embedding.weight.requires_grad_(False)  # a GPT's tied output layer too: never read


def _direction_loss(lm: nn.Module, head: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    h = hidden_states(lm, x)  # (B, T, D)
    with torch.autocast(h.device.type, enabled=False):  # its index_copy_ wants one dtype
        return head(h.reshape(-1, h.shape[-1]).float(), y.reshape(-1)).loss


def bidirectional_loss(model: AdaptiveBidirectionalLM, batch) -> torch.Tensor:
    """The mean of both directions' next-token losses (nats); ``batch = (x, y, x_back,
    y_back)``, windows (B, T) of the stream and of the reversed stream."""
    x, y, x_back, y_back = batch
    return 0.5 * (_direction_loss(model.forward_lm, model.forward_head, x, y)
                  + _direction_loss(model.backward_lm, model.backward_head, x_back, y_back))


def train_bidirectional_lm(kind: str, stream: torch.Tensor, vocab_size: int, minutes: float,
                           recipe: BidirectionalLMRecipe | None = None, device: torch.device | str = "cpu",
                           seed: int = 0, static_vectors: torch.Tensor | None = None
                           ) -> tuple[AdaptiveBidirectionalLM, History]:
    """A bidirectional LM of ``kind`` trained on random windows of ``stream`` and of its reverse,
    for ``minutes`` of wall-clock time, as the chapters 05-09 budgets are: ``steps_within`` times
    a few updates for a first plan and ``TrainConfig(budget_minutes=minutes)`` re-plans as
    training goes, so that the cosine decay ends when the budget does even when the speed of a
    step changes (a machine shared with other jobs). The first plan's probe runs before the
    budget starts. ``static_vectors``: for a recipe with ``static_inputs`` (see
    ``make_bidirectional_lm``).
    """
    recipe = WSD_LM_RECIPES[kind] if recipe is None else recipe
    seed_everything(seed)
    model = make_bidirectional_lm(kind, vocab_size, recipe, static_vectors).to(device)
    backward_stream = stream.flip(0)
    generator = torch.Generator().manual_seed(seed)

    def batch():
        forward = random_windows(stream, recipe.block_size, recipe.batch_size, generator)
        backward = random_windows(backward_stream, recipe.block_size, recipe.batch_size,
                                  generator)
        return (*forward, *backward)

    config = planned_config(model, bidirectional_loss, iter(batch, None), minutes=minutes, seed=seed,
                            progress=False, **recipe.optimisation.kwargs())
    return model, train(model, bidirectional_loss, batch, config)


@torch.no_grad()
def held_out_nats(model: AdaptiveBidirectionalLM, stream: torch.Tensor, block_size: int,
                  max_windows: int = 256) -> float:
    """Mean next-token loss of both directions on consecutive windows of ``stream`` (e.g. the
    test sentences): a check that the models learned language, not a figure to compare."""
    windows = min(max_windows, (len(stream) - 1) // block_size)
    x = stream[: windows * block_size].view(windows, block_size)
    y = stream[1 : windows * block_size + 1].view(windows, block_size)
    back = stream.flip(0)
    xb = back[: windows * block_size].view(windows, block_size)
    yb = back[1 : windows * block_size + 1].view(windows, block_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss = bidirectional_loss(model, tuple(t.to(device) for t in (x, y, xb, yb))).item()
    model.train(was_training)
    return loss


# --- Features -------------------------------------------------------------------------------


def contextual_features(model: nn.Module, data: WSDData, batch_size: int = 256
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Every layer's vector of the ambiguous word in each sentence, (N, L + 1, D) for train and
    (M, L + 1, D) for test (``contextual.target_states``, sentences started by ``<eos>``)."""
    return tuple(target_states(model, split.ids, split.positions, data.vocab.eos_id, batch_size)
                 for split in (data.train, data.test))


def static_features(vectors: torch.Tensor, data: WSDData, radius: int | None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Static-vector features for train and test: the ambiguous word's own vector
    (``radius=None``: the same vector in every sentence), or the mean of the vectors of the
    ``radius`` words on each side (``contextual.window_mean``, ``<unk>`` left out)."""
    if radius is None:
        return tuple(vectors[target_ids(split)] for split in (data.train, data.test))
    return tuple(window_mean(vectors, split.ids, split.positions, radius, [data.vocab.unk_id])
                 for split in (data.train, data.test))


# --- Scoring -------------------------------------------------------------------------------


def classify(train_vectors: torch.Tensor, train_labels: Sequence[int], test_vectors: torch.Tensor,
             num_senses: int, classifier: str) -> torch.Tensor:
    """Test predictions (M,) of one word's ``classifier``, "centroid" or "probe", fitted on its
    training vectors (N, D)."""
    labels = torch.as_tensor(train_labels)
    if classifier == "centroid":
        return nearest_centroid(test_vectors, sense_centroids(train_vectors, labels, num_senses))
    if classifier == "probe":
        return LogisticProbe(num_senses).fit(train_vectors, labels).predict(test_vectors)
    raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {classifier!r}")


def score_words(data: WSDData, train_vectors: torch.Tensor, test_vectors: torch.Tensor,
                classifier: str) -> dict[str, dict[str, float]]:
    """``{word: {"accuracy", "macro_f1"}}`` for each word, one classifier per word fitted on its
    training rows of ``train_vectors`` (N, D) and scored on its rows of ``test_vectors`` (M, D)."""
    scores = {}
    for word, names in data.senses.items():
        train_rows, test_rows = data.train.rows_of(word), data.test.rows_of(word)
        predicted = classify(train_vectors[train_rows], [data.train.labels[i] for i in train_rows],
                             test_vectors[test_rows], len(names), classifier)
        gold = torch.tensor([data.test.labels[i] for i in test_rows])
        scores[word] = {"accuracy": (predicted == gold).double().mean().item(),
                        "macro_f1": macro_f1(predicted, gold)}
    return scores


def most_frequent_sense(data: WSDData) -> dict[str, dict[str, float]]:
    """The baseline that ignores the context: each word's most frequent training sense."""
    scores = {}
    for word in data.senses:
        train_labels = [data.train.labels[i] for i in data.train.rows_of(word)]
        gold = torch.tensor([data.test.labels[i] for i in data.test.rows_of(word)])
        predicted = torch.full_like(gold, max(set(train_labels), key=train_labels.count))
        scores[word] = {"accuracy": (predicted == gold).double().mean().item(),
                        "macro_f1": macro_f1(predicted, gold)}
    return scores


def mean_scores(scores: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The unweighted mean over words of each score (the dataset authors' averages)."""
    names = next(iter(scores.values())).keys()
    return {name: sum(s[name] for s in scores.values()) / len(scores) for name in names}


def target_ids(split: Split) -> list[int]:
    """The id of the ambiguous word in each sentence: its static-vector row."""
    return [ids[p] for ids, p in zip(split.ids, split.positions, strict=True)]


def unigram_loss_floor(stream: torch.Tensor, vocab_size: int) -> float:
    """Entropy (nats) of the stream's unigram distribution: what an LM that ignores context
    would reach; a trained LM must go well below it."""
    p = torch.bincount(stream, minlength=vocab_size).double()
    p = p[p > 0] / p.sum()
    return float(-(p * p.log()).sum())

