"""Attention for recurrent encoder-decoders (chapter 08): one query against a sequence of keys and values.

Shape letters: B batch, S source positions (keys/values), Dq query, Dk key, Dv value
features, A the additive attention's hidden size.

Every module here has the same interface, and always returns a pair (the weights are part of
the result, for plotting)::

    forward(query (B, Dq), keys (B, S, Dk), values (B, S, Dv), mask (B, S) | None)
        -> (context (B, Dv), weights (B, S))

``mask`` is a bool tensor, True at real tokens and False at padding (the convention of
``Batch.src_mask`` and of ``F.scaled_dot_product_attention``'s bool mask). The weights come
from ``course_lib.models.masks.masked_softmax``, the one the Transformer uses too: padded
positions get a weight of exactly 0 and the weights of each row sum to 1 over its real
positions.

The score functions (Bahdanau et al. 2015; Luong et al. 2015; Vaswani et al. 2017):

* ``AdditiveAttention``  score(q, k) = vᵀ tanh(W q + U k)
* ``DotAttention``       score(q, k) = qᵀ k, or qᵀ k / √Dk with ``scaled=True``
* ``GeneralAttention``   score(q, k) = qᵀ W k

A decoder asks the same keys a new query at every step. The part of the score that depends
only on the keys (U k, W k) can be computed once with ``project_keys(keys)`` and passed back
as ``projected_keys=``; the result is the same.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from course_lib.models.masks import masked_softmax

ATTENTION_KINDS = ("additive", "dot", "scaled_dot", "general")


class _Attention(nn.Module):
    """Shared forward: scores -> masked softmax -> weighted sum of the values."""

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """The key-only part of the score, computed once per source (identity by default)."""
        return keys

    def score(self, query: torch.Tensor, projected_keys: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        mask: torch.Tensor | None = None,
        projected_keys: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(context (B, Dv), weights (B, S))`` for ``query (B, Dq)`` over ``keys (B, S, Dk)``
        and ``values (B, S, Dv)``; ``projected_keys`` is an optional cache of
        ``self.project_keys(keys)``."""
        if query.dim() != 2 or keys.dim() != 3 or values.dim() != 3:
            raise ValueError(
                "attention expects query (B, Dq), keys (B, S, Dk), values (B, S, Dv); got "
                f"{tuple(query.shape)}, {tuple(keys.shape)}, {tuple(values.shape)}"
            )
        if keys.shape[:2] != values.shape[:2] or keys.shape[0] != query.shape[0]:
            raise ValueError(
                f"query {tuple(query.shape)}, keys {tuple(keys.shape)} and values "
                f"{tuple(values.shape)} must agree on B (and keys/values on S)"
            )
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        weights = masked_softmax(self.score(query, projected_keys), mask)  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # (B, Dv)
        return context, weights


class AdditiveAttention(_Attention):
    """Bahdanau attention: score(q, k) = vᵀ tanh(W q + U k), with W (A, Dq), U (A, Dk), v (A,).

    Bahdanau et al. (2015) use no biases: ``bias=False`` matches the paper. With the default
    ``bias=True``, U has a bias (one bias suffices inside the tanh; one on v cancels in the
    softmax).
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int, bias: bool = True):
        super().__init__()
        self.query_proj = nn.Linear(query_dim, attn_dim, bias=False)  # W
        self.key_proj = nn.Linear(key_dim, attn_dim, bias=bias)  # U
        self.v = nn.Linear(attn_dim, 1, bias=False)  # v

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        return self.key_proj(keys)  # (B, S, A)

    def score(self, query, projected_keys):
        hidden = torch.tanh(self.query_proj(query).unsqueeze(1) + projected_keys)  # (B, S, A)
        return self.v(hidden).squeeze(-1)  # (B, S)


class DotAttention(_Attention):
    """Luong's dot score qᵀ k (needs Dq == Dk); ``scaled=True`` divides by √Dk (the
    Transformer's scaled dot-product attention). No parameters."""

    def __init__(self, scaled: bool = False):
        super().__init__()
        self.scaled = scaled

    def score(self, query, projected_keys):
        if query.shape[-1] != projected_keys.shape[-1]:
            raise ValueError(
                f"dot attention needs query and key sizes to match, got Dq={query.shape[-1]} and "
                f"Dk={projected_keys.shape[-1]}; use GeneralAttention or AdditiveAttention instead"
            )
        scores = torch.bmm(projected_keys, query.unsqueeze(-1)).squeeze(-1)  # (B, S)
        return scores / math.sqrt(query.shape[-1]) if self.scaled else scores

    def extra_repr(self) -> str:
        return f"scaled={self.scaled}"


class GeneralAttention(_Attention):
    """Luong's general score qᵀ W k with W (Dq, Dk): W k is computed once per source."""

    def __init__(self, query_dim: int, key_dim: int):
        super().__init__()
        self.key_proj = nn.Linear(key_dim, query_dim, bias=False)  # W

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        return self.key_proj(keys)  # (B, S, Dq)

    def score(self, query, projected_keys):
        return torch.bmm(projected_keys, query.unsqueeze(-1)).squeeze(-1)  # (B, S)


def make_attention(kind: str, query_dim: int, key_dim: int, attn_dim: int | None = None) -> _Attention:
    """An attention module by name: ``"additive"`` (``attn_dim`` defaults to ``query_dim``),
    ``"dot"``, ``"scaled_dot"`` or ``"general"``."""
    if kind == "additive":
        return AdditiveAttention(query_dim, key_dim, attn_dim or query_dim)
    if kind in ("dot", "scaled_dot"):
        if query_dim != key_dim:
            raise ValueError(
                f"{kind} attention needs query_dim == key_dim, got {query_dim} and {key_dim} "
                "(a bidirectional encoder doubles the key size): use 'general' or 'additive'"
            )
        return DotAttention(scaled=kind == "scaled_dot")
    if kind == "general":
        return GeneralAttention(query_dim, key_dim)
    raise ValueError(f"Unknown attention kind {kind!r}: use one of {', '.join(ATTENTION_KINDS)}")
