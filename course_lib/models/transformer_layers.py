"""The parts a Transformer is built from: masks, attention, positions and pre-norm blocks.

``course_lib.models.transformer`` assembles them into a translation model and a GPT and
re-exports everything here, so notebooks import from there.

Shape letters: B batch, T queries (target), S keys/values (source), D model dim
(``embed_dim``), heads attention heads, Dh = D // heads dims per head.

Masks follow ``course_lib.models.masks``: bool, **True where attention is allowed**; the
from-scratch attention uses its ``masked_softmax`` (a query with no allowed key gets zero
weights and a zero output, as in ``F.scaled_dot_product_attention``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from course_lib.models.masks import causal_mask, check_mask, masked_softmax, padding_mask

__all__ = [
    "DecoderBlock", "FeedForward", "KeyValue", "LayerCache", "LearnedPositionalEmbedding",
    "MultiHeadAttention",
    "SinusoidalPositionalEncoding", "TransformerBlock", "causal_mask", "fused_attention",
    "padding_mask", "scaled_dot_product_attention", "sinusoidal_positions",
]

KeyValue = tuple[torch.Tensor, torch.Tensor]  # keys and values, each (B, heads, S, Dh)


@dataclass
class LayerCache:
    """The keys and values one self-attention layer has computed so far, each (B, heads, L, Dh).

    Passed as ``cache=`` to ``MultiHeadAttention`` (or a block), it is read as the past and
    extended in place with the new positions' keys and values. The tensors are never changed
    in place (``extend`` concatenates into new ones), so a copy of the holder is a snapshot.
    """

    keys: torch.Tensor | None = None
    values: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.keys is None else self.keys.shape[2]

    def extend(self, keys: torch.Tensor, values: torch.Tensor) -> KeyValue:
        """Append new keys and values (B, heads, T, Dh); return all of them (B, heads, L + T, Dh)."""
        if self.keys is not None:
            keys = torch.cat([self.keys, keys], dim=2)
            values = torch.cat([self.values, values], dim=2)
        self.keys, self.values = keys, values
        return keys, values


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q kᵀ / √d) v, written out. Returns ``(out (..., T, Dv), weights (..., T, S))``.

    ``q`` is (..., T, d), ``k`` (..., S, d), ``v`` (..., S, Dv); ``mask`` is a bool tensor
    broadcastable to (..., T, S), True where query t may attend key s. The returned weights
    are the softmax before dropout (rows sum to 1); ``out`` uses the dropped-out weights,
    like ``F.scaled_dot_product_attention``. A query with no allowed key gets zero weights
    and a zero output, as there (see ``masks.masked_softmax``).
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, S)
    weights = masked_softmax(scores, mask)  # (..., T, S)
    attended = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
    return attended @ v, weights  # (..., T, Dv), (..., T, S)


def fused_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
    dropout_p: float = 0.0, is_causal: bool = False,
) -> torch.Tensor:
    """``F.scaled_dot_product_attention(q, k, v, mask, dropout_p, is_causal=is_causal)``, with
    the right kernel for bfloat16 on the CPU.

    PyTorch picks its flash-attention kernel there, whose bfloat16 forward + backward is 1.4 to
    2.6 times slower than its plain "math" kernel (q kᵀ, softmax, times v) at the course's
    shapes (``benchmarks/attention_kernels.py`` measures both) and no more accurate; so
    bfloat16 CPU inputs (bfloat16 autocast, ``cpu_amp=True``) take the math kernel. On other
    devices and dtypes PyTorch chooses.
    """
    if q.device.type == "cpu" and q.dtype == torch.bfloat16:
        with sdpa_kernel(SDPBackend.MATH):
            return F.scaled_dot_product_attention(q, k, v, mask, dropout_p, is_causal=is_causal)
    return F.scaled_dot_product_attention(q, k, v, mask, dropout_p, is_causal=is_causal)


class MultiHeadAttention(nn.Module):
    """Multi-head attention with the parameter layout of ``nn.MultiheadAttention``.

    ``in_proj`` maps D to the stacked query, key and value projections (3D), ``out_proj``
    maps the concatenated heads back to D, so weights copy one-to-one from
    ``nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=True)``.
    ``dropout`` is applied to the attention weights during training.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}: each head "
                f"gets embed_dim // num_heads dimensions, so choose num_heads dividing {embed_dim}"
            )
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, D) -> (B, heads, L, Dh)
        B, L, _ = x.shape
        return x.view(B, L, self.num_heads, -1).transpose(1, 2)

    def project(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries (B, heads, T, Dh), keys and values (B, heads, S, Dh) from (B, T|S, D) inputs."""
        if query is key and key is value:  # self-attention: one matrix product
            q, k, v = self.in_proj(query).chunk(3, dim=-1)  # 3 x (B, T, D)
            return self._split_heads(q), self._split_heads(k), self._split_heads(v)
        return (self.project_query(query), *self.project_key_value(key, value))

    def _in_proj_part(self, part: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Weight (D, D) and bias (D,) of the query (0), key (1) or value (2) projection."""
        weight = self.in_proj.weight.chunk(3)[part]
        bias = None if self.in_proj.bias is None else self.in_proj.bias.chunk(3)[part]
        return weight, bias

    def project_query(self, query: torch.Tensor) -> torch.Tensor:
        """Queries (B, heads, T, Dh) from ``query`` (B, T, D)."""
        return self._split_heads(F.linear(query, *self._in_proj_part(0)))

    def project_key_value(self, key: torch.Tensor, value: torch.Tensor) -> KeyValue:
        """Keys and values (B, heads, S, Dh) from (B, S, D): computed once per source sentence
        when a decoder attends to the same encoder memory at every step."""
        k = F.linear(key, *self._in_proj_part(1))
        v = F.linear(value, *self._in_proj_part(2))
        return self._split_heads(k), self._split_heads(v)

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
        is_causal: bool = False, need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attention over projected heads, heads merged and projected: ``(out (B, T, D), weights)``.

        ``need_weights=False`` runs the fused ``F.scaled_dot_product_attention`` (through
        ``fused_attention``) and returns ``None`` weights; ``True`` runs the from-scratch
        version and returns (B, heads, T, S).
        ``is_causal`` may only be set together with ``mask=None`` and T == S.
        """
        dropout_p = self.dropout if self.training else 0.0
        if need_weights:
            if is_causal:
                mask = causal_mask(q.shape[-2], q.device)
            out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p)
        else:
            out = fused_attention(q, k, v, mask, dropout_p, is_causal)
            weights = None
        B, _, T, _ = out.shape
        out = out.transpose(1, 2).reshape(B, T, self.embed_dim)  # (B, T, D)
        return self.out_proj(out), weights

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        *,
        attn_mask: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
        cache: LayerCache | None = None,
        projected_kv: KeyValue | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from ``query`` (B, T, D) to ``key`` (B, S, D) / ``value`` (B, S, D).

        Leave ``key`` and ``value`` out for self-attention (``value`` defaults to ``key``).
        Masks are bool, True = may attend: ``attn_mask`` (T, S) or (B, T, S);
        ``key_padding_mask`` (B, S), False at padded keys; ``is_causal`` hides later keys
        (query t sees keys up to S - T + t). Returns ``(out (B, T, D), weights)`` where
        weights are (B, heads, T, S) with ``need_weights=True`` (the from-scratch path) and
        ``None`` otherwise (the fused ``F.scaled_dot_product_attention`` path).

        Two ways not to recompute keys and values: ``cache`` (self-attention) holds the earlier
        positions' keys and values, which the queries also attend to, and is extended in place
        with the new ones (with ``is_causal`` the result equals attention over the whole
        sequence, at its last T positions); ``projected_kv`` gives keys and values already
        projected, e.g. ``project_key_value(memory, memory)`` once per source sentence.
        """
        check_mask(attn_mask, "attn_mask")
        check_mask(key_padding_mask, "key_padding_mask")
        if projected_kv is not None:
            q, (k, v) = self.project_query(query), projected_kv  # (B, heads, T | S, Dh)
        else:
            key = query if key is None else key
            value = key if value is None else value
            q, k, v = self.project(query, key, value)  # (B, heads, T, Dh), 2 x (B, heads, S, Dh)
        if cache is not None:
            k, v = cache.extend(k, v)  # (B, heads, past + S, Dh)
        T, S = q.shape[-2], k.shape[-2]
        mask = None
        if attn_mask is not None:
            mask = attn_mask if attn_mask.dim() == 2 else attn_mask[:, None]  # (B?, 1?, T, S)
        if key_padding_mask is not None:
            keys_ok = key_padding_mask[:, None, None, :]  # (B, 1, 1, S)
            mask = keys_ok if mask is None else mask & keys_ok
        if is_causal and mask is None and T == 1:
            is_causal = False  # one query after every key it may see: nothing to hide
        if is_causal and (mask is not None or T != S):
            future_ok = causal_mask(T, q.device, past=S - T)  # (T, S)
            mask = future_ok if mask is None else mask & future_ok
            is_causal = False
        return self.attend(q, k, v, mask, is_causal, need_weights)


def sinusoidal_positions(max_len: int, embed_dim: int) -> torch.Tensor:
    """The (max_len, D) table of Vaswani et al. (2017).

    PE[pos, 2i] = sin(pos / 10000^(2i/D)) and PE[pos, 2i+1] = cos(pos / 10000^(2i/D)).
    """
    if embed_dim % 2 != 0:
        raise ValueError(f"Sinusoidal positions pair sin and cos: embed_dim must be even, got {embed_dim}")
    position = torch.arange(max_len, dtype=torch.float32)[:, None]  # (L, 1)
    inv_freq = torch.exp(torch.arange(0, embed_dim, 2) * (-math.log(10000.0) / embed_dim))  # (D/2,)
    table = torch.zeros(max_len, embed_dim)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq)
    return table


def _check_length(T: int, offset: int, max_len: int) -> None:
    if offset + T > max_len:
        raise ValueError(
            f"Positions {offset}..{offset + T - 1} asked for, but the model has only max_len="
            f"{max_len} positions: use shorter sequences (crop them) or a larger max_len"
        )


class SinusoidalPositionalEncoding(nn.Module):
    """Adds fixed sinusoidal positions to embeddings: ``x (B, T, D) -> x + PE[offset : offset+T]``."""

    def __init__(self, max_len: int, embed_dim: int):
        super().__init__()
        self.max_len = max_len
        self.register_buffer("table", sinusoidal_positions(max_len, embed_dim), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        _check_length(x.shape[1], offset, self.max_len)
        return x + self.table[offset : offset + x.shape[1]].to(x.dtype)  # (B, T, D)


class LearnedPositionalEmbedding(nn.Module):
    """Adds a learned vector per position: ``x (B, T, D) -> x + E[offset : offset+T]``."""

    def __init__(self, max_len: int, embed_dim: int):
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, embed_dim)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        _check_length(x.shape[1], offset, self.max_len)
        positions = torch.arange(offset, offset + x.shape[1], device=x.device)  # (T,)
        return x + self.embedding(positions)  # (B, T, D)


class FeedForward(nn.Module):
    """The position-wise MLP: D -> ff_dim -> GELU -> D, then dropout."""

    def __init__(self, embed_dim: int, ff_dim: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        self.fc = nn.Linear(embed_dim, ff_dim, bias=bias)
        self.proj = nn.Linear(ff_dim, embed_dim, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))  # (B, T, D)


class TransformerBlock(nn.Module):
    """A pre-norm self-attention block: ``x + attn(norm(x))``, then ``x + ff(norm(x))``.

    The encoder's layer (with ``key_padding_mask``) and the GPT's (with ``is_causal=True``).
    """

    def __init__(
        self, embed_dim: int, num_heads: int, ff_dim: int, dropout: float = 0.0, bias: bool = True
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dim, bias=bias)
        self.attn = MultiHeadAttention(embed_dim, num_heads, dropout, bias)
        self.norm2 = nn.LayerNorm(embed_dim, bias=bias)
        self.ff = FeedForward(embed_dim, ff_dim, dropout, bias)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, *, key_padding_mask: torch.Tensor | None = None,
        is_causal: bool = False, need_weights: bool = False, cache: LayerCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(x (B, T, D), weights (B, heads, T, T) or None)``; see ``MultiHeadAttention``
        (``cache`` holds the earlier positions' keys and values and is extended in place)."""
        attended, weights = self.attn(
            self.norm1(x), key_padding_mask=key_padding_mask, is_causal=is_causal,
            need_weights=need_weights, cache=cache,
        )
        x = x + self.dropout(attended)
        return x + self.ff(self.norm2(x)), weights


class DecoderBlock(nn.Module):
    """A pre-norm decoder block: causal self-attention, cross-attention to the encoder, MLP."""

    def __init__(
        self, embed_dim: int, num_heads: int, ff_dim: int, dropout: float = 0.0, bias: bool = True
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dim, bias=bias)
        self.self_attn = MultiHeadAttention(embed_dim, num_heads, dropout, bias)
        self.norm2 = nn.LayerNorm(embed_dim, bias=bias)
        self.cross_attn = MultiHeadAttention(embed_dim, num_heads, dropout, bias)
        self.norm3 = nn.LayerNorm(embed_dim, bias=bias)
        self.ff = FeedForward(embed_dim, ff_dim, dropout, bias)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor | None = None,
        *, need_weights: bool = False, cache: LayerCache | None = None,
        memory_kv: KeyValue | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Target states ``x`` (B, T, D) attend to themselves (causally) and to ``memory`` (B, S, D).

        ``memory_mask`` (B, S) is True at real source tokens. Returns ``(x, self_weights
        (B, heads, T, T), cross_weights (B, heads, T, S))``, weights ``None`` unless
        ``need_weights``. For decoding one position at a time: ``cache`` holds the earlier
        target positions' self-attention keys and values (extended in place), and
        ``memory_kv`` the memory's cross-attention keys and values,
        ``cross_attn.project_key_value(memory, memory)``, computed once per sentence.
        """
        attended, self_weights = self.self_attn(
            self.norm1(x), is_causal=True, need_weights=need_weights, cache=cache
        )
        x = x + self.dropout(attended)
        attended, cross_weights = self.cross_attn(
            self.norm2(x), memory, key_padding_mask=memory_mask, need_weights=need_weights,
            projected_kv=memory_kv,
        )
        x = x + self.dropout(attended)
        return x + self.ff(self.norm3(x)), self_weights, cross_weights
