"""Spoken-digit recognition: the models, their losses, batches and recipes (chapter 12).

One encoder serves both tasks: frames stacked in fours (40 ms steps), then a bidirectional GRU.
``DigitClassifier`` averages its outputs over time and names one digit; ``CTCRecognizer``
gives every frame a distribution over blank + 10 digits, trained with ``torch.nn.CTCLoss``.
Class 0 is CTC's blank and digit d is class d + 1. Shapes: B batch, T frames, M features,
H hidden size, C classes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from course_lib import ctc, speech
from course_lib.training import History, TrainConfig, train

BLANK = 0
NUM_CLASSES = 11  # blank + the digits 0-9


class SpeechEncoder(nn.Module):
    """(features (B, T, M), lengths (B,)) -> (outputs (B, T', 2H), lengths (B,)), T' = ceil(T / stride).

    ``stride`` consecutive frames are concatenated into one (fewer, wider steps: faster, and
    still several steps per spoken digit). Padding is packed away, so the backward direction
    starts at each utterance's true end.
    """

    def __init__(self, num_features: int = 40, hidden_size: int = 128, num_layers: int = 2,
                 stride: int = 4, dropout: float = 0.1):
        super().__init__()
        self.stride = stride
        self.gru = nn.GRU(num_features * stride, hidden_size, num_layers, batch_first=True,
                          bidirectional=True, dropout=dropout if num_layers > 1 else 0.0)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, frames, width = features.shape
        extra = -frames % self.stride
        features = nn.functional.pad(features, (0, 0, 0, extra))  # (B, T + extra, M)
        stacked = features.reshape(batch, (frames + extra) // self.stride, width * self.stride)
        lengths = (lengths + self.stride - 1) // self.stride  # ceil
        packed = nn.utils.rnn.pack_padded_sequence(stacked, lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        outputs, _ = self.gru(packed)
        outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True,
                                                      total_length=stacked.shape[1])
        return outputs, lengths  # (B, T', 2H), (B,)


class DigitClassifier(nn.Module):
    """One digit per recording: the encoder's outputs averaged over the true frames, then a
    linear layer. ``forward(features, lengths) -> logits (B, 10)``."""

    def __init__(self, num_features: int = 40, hidden_size: int = 128, num_layers: int = 2,
                 stride: int = 4, dropout: float = 0.1):
        super().__init__()
        self.encoder = SpeechEncoder(num_features, hidden_size, num_layers, stride, dropout)
        self.head = nn.Linear(2 * hidden_size, 10)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outputs, lengths = self.encoder(features, lengths)  # (B, T', 2H)
        mask = torch.arange(outputs.shape[1], device=outputs.device)[None, :] < lengths[:, None].to(outputs.device)
        pooled = (outputs * mask[..., None]).sum(dim=1) / lengths[:, None].to(outputs)  # (B, 2H)
        return self.head(pooled)  # (B, 10)


class CTCRecognizer(nn.Module):
    """Per-frame log probabilities over blank + 10 digits.
    ``forward(features, lengths) -> (log_probs (B, T', 11), lengths (B,))``."""

    def __init__(self, num_features: int = 40, hidden_size: int = 128, num_layers: int = 2,
                 stride: int = 4, dropout: float = 0.1):
        super().__init__()
        self.encoder = SpeechEncoder(num_features, hidden_size, num_layers, stride, dropout)
        self.head = nn.Linear(2 * hidden_size, NUM_CLASSES)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs, lengths = self.encoder(features, lengths)
        return self.head(outputs).log_softmax(dim=-1), lengths


# --- Losses and batches -----------------------------------------------------------------------

def classifier_loss(model: nn.Module, batch) -> torch.Tensor:
    """Cross-entropy of a batch ``(features (B, T, M), lengths (B,), digits (B,))``."""
    features, lengths, digits = batch
    return nn.functional.cross_entropy(model(features, lengths), digits)


def ctc_loss(model: nn.Module, batch) -> torch.Tensor:
    """CTC loss of a batch ``(features (B, T, M), lengths (B,), targets (sum of L,), target
    lengths (B,))``: targets are the utterances' classes (digit + 1) one after the other,
    averaged per target label as ``CTCLoss(reduction="mean")`` does."""
    features, lengths, targets, target_lengths = batch
    log_probs, out_lengths = model(features, lengths)  # (B, T', C)
    return nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, out_lengths, target_lengths,
                                  blank=BLANK, zero_infinity=True)  # CTCLoss wants (T', B, C)


def isolated_batches(recordings: Sequence[speech.Recording], batch_size: int, seed: int = 0
                     ) -> Callable[[], tuple]:
    """A function that returns a random batch (features, lengths, digits) of recordings."""
    rng = random.Random(seed)
    table = [(speech.features(r.samples), r.digit) for r in recordings]  # computed once

    def next_batch():
        chosen = rng.sample(table, batch_size)
        features, lengths = speech.pad_batch([f for f, _ in chosen])
        return features, lengths, torch.tensor([digit for _, digit in chosen])

    return next_batch


def connected_batches(recordings: Sequence[speech.Recording], batch_size: int, seed: int = 0
                      ) -> Callable[[], tuple]:
    """A function that returns a batch of fresh connected-digit utterances (a new draw every
    call, so the model never sees the same utterance twice): (features, lengths, targets,
    target lengths) as ``ctc_loss`` takes them."""
    rng = random.Random(seed)

    def next_batch():
        utterances = speech.connected_utterances(recordings, batch_size, rng)
        return ctc_batch(utterances)

    return next_batch


def ctc_batch(utterances: Sequence[tuple[torch.Tensor, list[int]]]) -> tuple:
    """(features, lengths, targets, target lengths) of (samples, digits) utterances."""
    features, lengths = speech.pad_batch([speech.features(samples) for samples, _ in utterances])
    targets = torch.tensor([digit + 1 for _, digits in utterances for digit in digits])
    return features, lengths, targets, torch.tensor([len(digits) for _, digits in utterances])


# --- Evaluation -------------------------------------------------------------------------------

@torch.no_grad()
def accuracy(model: DigitClassifier, recordings: Sequence[speech.Recording], batch_size: int = 100) -> float:
    """The fraction of recordings whose digit the classifier names."""
    model.eval()
    correct = 0
    for start in range(0, len(recordings), batch_size):
        chunk = recordings[start:start + batch_size]
        features, lengths = speech.pad_batch([speech.features(r.samples) for r in chunk])
        predicted = model(features, lengths).argmax(dim=-1)
        correct += int((predicted == torch.tensor([r.digit for r in chunk])).sum())
    return correct / len(recordings)


@torch.no_grad()
def transcribe(model: CTCRecognizer, utterances: Sequence[tuple[torch.Tensor, list[int]]],
               beam_width: int = 1, batch_size: int = 50) -> list[list[int]]:
    """The digits heard in each utterance: greedy decoding (``beam_width=1``) or prefix beam."""
    model.eval()
    heard = []
    for start in range(0, len(utterances), batch_size):
        features, lengths, _, _ = ctc_batch(utterances[start:start + batch_size])
        log_probs, out_lengths = model(features, lengths)
        for row, length in zip(log_probs, out_lengths.tolist(), strict=True):
            frames = row[:length]  # (T', C)
            labels = (ctc.greedy_decode(frames, BLANK) if beam_width == 1
                      else ctc.beam_decode(frames, beam_width, BLANK))
            heard.append([label - 1 for label in labels])
    return heard


def digit_error_rate(model: CTCRecognizer, utterances: Sequence[tuple[torch.Tensor, list[int]]],
                     beam_width: int = 1) -> float:
    """Edit distance between heard and said digits, over the number of digits said."""
    heard = transcribe(model, utterances, beam_width)
    return ctc.error_rate([digits for _, digits in utterances], heard)


# --- Recipes -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SpeechRecipe:
    """A model size and a training budget (the chapter and the benchmark share these)."""

    hidden_size: int = 128
    num_layers: int = 2
    stride: int = 4
    batch_size: int = 32
    lr: float = 2e-3
    budget_minutes: float = 2.0
    seed: int = 0


ISOLATED_RECIPE = SpeechRecipe(budget_minutes=2.0)
CONNECTED_RECIPE = SpeechRecipe(budget_minutes=8.0)


def _train(model: nn.Module, loss_fn, batches, recipe: SpeechRecipe, minutes: float | None,
           progress: bool) -> History:
    config = TrainConfig(max_steps=200, budget_minutes=minutes or recipe.budget_minutes, lr=recipe.lr,
                         warmup_steps=20, min_lr=recipe.lr / 20, seed=recipe.seed, progress=progress)
    history = train(model, loss_fn, batches, config)
    model.eval()
    return history


def train_classifier(train_set: Sequence[speech.Recording], recipe: SpeechRecipe = ISOLATED_RECIPE,
                     minutes: float | None = None, progress: bool = True) -> tuple[DigitClassifier, History]:
    """A ``DigitClassifier`` trained on ``train_set`` for the recipe's budget (or ``minutes``)."""
    torch.manual_seed(recipe.seed)
    model = DigitClassifier(40, recipe.hidden_size, recipe.num_layers, recipe.stride)
    batches = isolated_batches(train_set, recipe.batch_size, recipe.seed)
    return model, _train(model, classifier_loss, batches, recipe, minutes, progress)


def train_recognizer(train_set: Sequence[speech.Recording], recipe: SpeechRecipe = CONNECTED_RECIPE,
                     minutes: float | None = None, progress: bool = True) -> tuple[CTCRecognizer, History]:
    """A ``CTCRecognizer`` trained with CTC on fresh connected utterances of ``train_set``."""
    torch.manual_seed(recipe.seed)
    model = CTCRecognizer(40, recipe.hidden_size, recipe.num_layers, recipe.stride)
    batches = connected_batches(train_set, recipe.batch_size, recipe.seed)
    return model, _train(model, ctc_loss, batches, recipe, minutes, progress)


def connected_test_set(test_set: Sequence[speech.Recording], count: int = 500, seed: int = 1234
                    ) -> list[tuple[torch.Tensor, list[int]]]:
    """A fixed set of connected-digit test utterances drawn from ``test_set``."""
    return speech.connected_utterances(test_set, count, random.Random(seed))
