"""Contextual embeddings: a vector for each occurrence of a word, from any course language model,
and the two ways chapter 11 reads a word's sense off such vectors.

``layer_states`` runs a left-to-right language model (``RNNLanguageModel`` or ``GPT``) and keeps
every layer: the token embedding (layer 0, the same vector whatever the context), then the
output of each recurrent layer or Transformer block. ``target_states`` takes the vector of one
position per sentence; with a ``BidirectionalLM`` (a forward and a backward model, as ELMo)
it joins the forward model's state after reading the sentence up to the word and the backward
model's state after reading it from the end back to the word.

The classifiers follow the protocol of the CoarseWSD-20 authors (Loureiro et al., 2021): the
centroid of each sense's training vectors, and the nearest centroid by cosine similarity
(no training of the language model on the labels); and, as a second reading, a logistic
regression probe on the same frozen vectors.

Shapes: N occurrences (or sentences), B batch, T time, L layers, D vector size, K senses.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from course_lib.models.rnn import RNNLanguageModel, ScratchRNN, unroll
from course_lib.models.transformer import GPT


class BidirectionalLM(nn.Module):
    """Two independent left-to-right language models: ``forward_lm`` reads sentences from the
    start, ``backward_lm`` reads them reversed (ELMo's biLM, without shared embeddings).

    Either can be an ``RNNLanguageModel`` or a ``GPT``. Training each on the reversed text
    makes the second one predict the *previous* word from the words after it.
    """

    def __init__(self, forward_lm: nn.Module, backward_lm: nn.Module):
        super().__init__()
        self.forward_lm, self.backward_lm = forward_lm, backward_lm


def _rnn_layer_outputs(rnn: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Outputs (B, T, H) of every layer of a fused ``nn.RNN/LSTM/GRU`` or a ``ScratchRNN``."""
    outputs = []
    for layer in range(rnn.num_layers):
        if isinstance(rnn, ScratchRNN):
            zeros = rnn.zero_state(x.shape[0])  # (L, B, H), or (h, c) for an LSTM
            start = tuple(z[layer] for z in zeros) if rnn.cell == "lstm" else zeros[layer]
            x, _ = unroll(rnn.layer_step(layer), x, start)
        else:  # run layer `layer`'s weights as a one-layer module of the same type
            one_layer = type(rnn)(x.shape[-1], rnn.hidden_size, 1, bias=rnn.bias, batch_first=True,
                                  device="meta")
            weights = {f"{name}_l0": getattr(rnn, f"{name}_l{layer}") for name in
                       ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if rnn.bias or "weight" in name}
            x, _ = functional_call(one_layer, weights, (x,))
        outputs.append(x)  # (B, T, H)
    return outputs


def _states(model: nn.Module, tokens: torch.Tensor) -> list[torch.Tensor]:
    if not torch.is_tensor(tokens) or tokens.dim() != 2 or tokens.dtype != torch.long:
        raise TypeError("tokens must be a 2-D LongTensor (B, T) of ids")
    if isinstance(model, GPT):
        x = model.dropout(model.positions(model.token_embedding(tokens)))  # (B, T, D)
        states = [x]
        for block in model.blocks:
            x, _ = block(x, is_causal=True)
            states.append(x)
        return states
    if isinstance(model, RNNLanguageModel):
        x = model.embedding(tokens)  # (B, T, E)
        return [x, *_rnn_layer_outputs(model.rnn, model.drop(x))]
    raise TypeError(f"expected a GPT or an RNNLanguageModel, got {type(model).__name__}; "
                    "for a BidirectionalLM pass its forward_lm and backward_lm one at a time")


@torch.no_grad()
def layer_states(model: nn.Module, tokens: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's vectors for ``tokens`` (B, T): ``[embedding, layer 1, ..., layer L]``, each
    (B, T, D) (an RNN's layers are H wide).

    For a ``GPT`` layer 0 is the token plus position embedding and layer l the residual stream
    after block l (before the final LayerNorm); for an ``RNNLanguageModel`` layer 0 is the token
    embedding and layer l the l-th recurrent layer's ``h``. Runs in eval mode (no dropout) and
    restores the model's mode. Both models are causal: position t depends on tokens[: t + 1] only.
    """
    was_training = model.training
    model.eval()
    try:
        return _states(model, tokens)
    finally:
        model.train(was_training)


def hidden_states(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """What the model's output layer reads, (B, T, D), with gradients and in the model's mode:
    a GPT's last block after the final LayerNorm, an RNN's last layer after its dropout.
    ``model.lm_head`` (GPT) or ``model.head`` (RNN) of it are ``model(tokens)``'s logits; a
    cheaper output layer (an adaptive softmax) can be trained on it instead."""
    last = _states(model, tokens)[-1]
    return model.norm(last) if isinstance(model, GPT) else model.drop(last)


@torch.no_grad()
def last_token_states(model: nn.Module, sequences: Sequence[Sequence[int]],
                      batch_size: int = 256) -> torch.Tensor:
    """The vectors of every layer at the last token of each sequence: (N, L + 1, D) (the
    layers must be equally wide: an RNN with ``embed_dim == hidden_size``).

    Sequences of different lengths are batched by length and right-padded: a causal model's
    state at a real token never sees the padding after it. A ``GPT`` reads at most its
    ``block_size`` last tokens. Returned on the CPU, in the order of ``sequences``.
    """
    if len(sequences) == 0 or any(len(s) == 0 for s in sequences):
        raise ValueError("last_token_states needs at least one sequence, none of them empty")
    limit = model.block_size if isinstance(model, GPT) else None
    cropped = [list(s)[-limit:] if limit else list(s) for s in sequences]
    device = next(model.parameters()).device
    order = sorted(range(len(cropped)), key=lambda i: len(cropped[i]))
    result: torch.Tensor | None = None
    for first in range(0, len(order), batch_size):
        chunk = order[first : first + batch_size]
        lengths = torch.tensor([len(cropped[i]) for i in chunk])  # (B,)
        tokens = torch.zeros(len(chunk), int(lengths.max()), dtype=torch.long)  # (B, T)
        for row, i in enumerate(chunk):
            tokens[row, : lengths[row]] = torch.tensor(cropped[i])
        layers = layer_states(model, tokens.to(device))
        if len({state.shape[-1] for state in layers}) > 1:
            raise ValueError(f"the layers have different widths {[s.shape[-1] for s in layers]}: "
                             "build the model with embed_dim == hidden_size")
        states = torch.stack(layers, dim=1)  # (B, L + 1, T, D)
        last = states[torch.arange(len(chunk)), :, lengths.to(device) - 1].float().cpu()  # (B, L + 1, D)
        if result is None:
            result = last.new_empty(len(cropped), *last.shape[1:])
        result[chunk] = last
    return result


def target_states(model: nn.Module, sentences: Sequence[Sequence[int]], positions: Sequence[int],
                  start_id: int, batch_size: int = 256) -> torch.Tensor:
    """The vectors (N, L + 1, D) of the word at ``positions[i]`` of each sentence of ids.

    A left-to-right model reads ``start_id`` (the token that separated sentences in training,
    e.g. ``<eos>``) and the sentence up to and including the word. A ``BidirectionalLM``
    also reads ``start_id`` and the sentence backwards from its end down to the word, and
    joins the two vectors of each layer: D is twice one model's width.
    """
    if len(sentences) != len(positions):
        raise ValueError(f"{len(sentences)} sentences but {len(positions)} positions: one each")
    for sentence, position in zip(sentences, positions, strict=True):
        if not 0 <= position < len(sentence):
            raise ValueError(f"position {position} is outside a sentence of {len(sentence)} tokens")
    left = [[start_id, *s[: p + 1]] for s, p in zip(sentences, positions, strict=True)]
    if not isinstance(model, BidirectionalLM):
        return last_token_states(model, left, batch_size)
    right = [[start_id, *reversed(s[p:])] for s, p in zip(sentences, positions, strict=True)]
    return torch.cat([last_token_states(model.forward_lm, left, batch_size),
                      last_token_states(model.backward_lm, right, batch_size)], dim=-1)


def window_mean(vectors: torch.Tensor, sentences: Sequence[Sequence[int]],
                positions: Sequence[int], radius: int, skip_ids: Sequence[int] = ()) -> torch.Tensor:
    """Static vectors (V, D) averaged over the ``radius`` words on each side of each position,
    the word itself left out, and ids in ``skip_ids`` (e.g. ``<unk>``) too: (N, D). A window
    with no word left gives zeros."""
    if radius < 1:
        raise ValueError(f"radius must be >= 1 (words on each side), got {radius}")
    skip = set(skip_ids)
    rows = []
    for sentence, p in zip(sentences, positions, strict=True):
        ids = [i for i in [*sentence[max(0, p - radius) : p], *sentence[p + 1 : p + 1 + radius]]
               if i not in skip]
        rows.append(vectors[ids].mean(0) if ids else vectors.new_zeros(vectors.shape[1]))
    return torch.stack(rows)  # (N, D)


# --- Reading senses off vectors -------------------------------------------------------------


def _check_labelled(vectors: torch.Tensor, labels: torch.Tensor) -> None:
    if vectors.dim() != 2 or labels.dim() != 1 or len(vectors) != len(labels):
        raise ValueError(f"need vectors (N, D) and labels (N,), got {tuple(vectors.shape)} and "
                         f"{tuple(labels.shape)}")


def sense_centroids(vectors: torch.Tensor, labels: torch.Tensor, num_senses: int) -> torch.Tensor:
    """The mean training vector of each sense: (K, D). Every sense needs a training vector."""
    vectors, labels = torch.as_tensor(vectors).float(), torch.as_tensor(labels).long()
    _check_labelled(vectors, labels)
    counts = torch.bincount(labels, minlength=num_senses)  # (K,)
    if len(counts) > num_senses or (counts == 0).any():
        raise ValueError(f"labels must cover every sense 0..{num_senses - 1}, counts {counts.tolist()}")
    sums = vectors.new_zeros(num_senses, vectors.shape[1]).index_add_(0, labels, vectors)
    return sums / counts[:, None]


def nearest_centroid(vectors: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """The sense (N,) whose centroid is most cosine-similar to each vector; ties go to the
    lower sense number."""
    similarity = F.normalize(torch.as_tensor(vectors).float(), dim=-1) @ F.normalize(centroids, dim=-1).T
    return similarity.argmax(dim=-1)  # (N,): torch returns the first of equal maxima


class LogisticProbe:
    """Multinomial logistic regression on frozen vectors, fitted by L-BFGS on the whole set.

    Features are standardised with the training mean and standard deviation; the loss is the
    mean cross-entropy plus ``weight_decay / 2`` times the squared weights (not the biases).
    ``fit(vectors, labels) -> self``; learned ``weight_`` (K, D), ``bias_`` (K,), ``mean_``,
    ``std_``; ``predict`` gives labels (N,). Deterministic: the weights start at zero.
    """

    def __init__(self, num_classes: int, weight_decay: float = 1e-2, max_iter: int = 100):
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.num_classes, self.weight_decay, self.max_iter = num_classes, weight_decay, max_iter

    def fit(self, vectors: torch.Tensor, labels: torch.Tensor) -> LogisticProbe:
        x, labels = torch.as_tensor(vectors).double(), torch.as_tensor(labels).long()
        _check_labelled(x, labels)
        self.mean_, self.std_ = x.mean(0), x.std(0, correction=0).clamp_min(1e-8)
        x = (x - self.mean_) / self.std_  # (N, D)
        weight = torch.zeros(self.num_classes, x.shape[1], dtype=x.dtype, requires_grad=True)
        bias = torch.zeros(self.num_classes, dtype=x.dtype, requires_grad=True)
        optimizer = torch.optim.LBFGS([weight, bias], max_iter=self.max_iter,
                                      line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            loss = F.cross_entropy(x @ weight.T + bias, labels) + 0.5 * self.weight_decay * (weight**2).sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            optimizer.step(closure)
        self.weight_, self.bias_ = weight.detach(), bias.detach()
        return self

    def decision_function(self, vectors: torch.Tensor) -> torch.Tensor:
        """Class scores (N, K) before the softmax."""
        x = (torch.as_tensor(vectors).double() - self.mean_) / self.std_
        return x @ self.weight_.T + self.bias_

    def predict(self, vectors: torch.Tensor) -> torch.Tensor:
        return self.decision_function(vectors).argmax(dim=-1)  # (N,)


def macro_f1(predictions: Sequence[int] | torch.Tensor, labels: Sequence[int] | torch.Tensor) -> float:
    """F1 averaged over the classes that occur in ``labels`` or ``predictions``, each class
    counting equally (scikit-learn's ``f1_score(average="macro")``): a rare sense weighs as
    much as a frequent one, and a class never predicted correctly scores 0."""
    predictions, labels = torch.as_tensor(predictions).long(), torch.as_tensor(labels).long()
    if predictions.shape != labels.shape or labels.dim() != 1 or len(labels) == 0:
        raise ValueError(f"need two non-empty 1-D label sequences of the same length, got "
                         f"{tuple(predictions.shape)} and {tuple(labels.shape)}")
    scores = []
    for c in torch.unique(torch.cat([labels, predictions])).tolist():
        true_positive = int(((predictions == c) & (labels == c)).sum())
        predicted, actual = int((predictions == c).sum()), int((labels == c).sum())
        scores.append(2 * true_positive / (predicted + actual))  # F1 = 2TP / (2TP + FP + FN)
    return sum(scores) / len(scores)
