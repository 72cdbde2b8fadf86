"""Attention masks and the one masked softmax used by every attention of the course.

Mask convention, everywhere: a boolean mask is **True where attention is allowed** ("may
attend"), False where it is blocked. This is the convention of
``F.scaled_dot_product_attention``'s boolean ``attn_mask`` and of ``Batch.src_mask``.
``nn.MultiheadAttention``'s ``key_padding_mask`` uses the opposite one (True = ignore): pass
``~mask`` to it.

Used by the recurrent models' attention (``course_lib.models.rnn_attention``) and by the
Transformer's (``course_lib.models.transformer_layers``).
"""

from __future__ import annotations

import torch


def causal_mask(T: int, device: torch.device | str | None = None, *, past: int = 0) -> torch.Tensor:
    """A (T, past + T) bool mask: query ``t`` may attend keys ``0 .. past + t``, not the future.

    ``past`` counts keys before the queries (a key/value cache): with ``past=0`` it is the
    lower-triangular (T, T) mask.
    """
    return torch.ones(T, past + T, dtype=torch.bool, device=device).tril(diagonal=past)


def padding_mask(
    *,
    tokens: torch.Tensor | None = None,
    pad_id: int | None = None,
    lengths: torch.Tensor | None = None,
    max_len: int | None = None,
) -> torch.Tensor:
    """A (B, S) bool mask, True at real tokens and False at padding (so: "may be attended to").

    Give either ``tokens`` (B, S) and ``pad_id``, or ``lengths`` (B,) of right-padded
    sequences (and optionally ``max_len``, else ``lengths.max()``). The mask is on the device
    of its input: ``Batch`` keeps lengths on the CPU, so move the mask (or use ``tokens``).
    """
    if (tokens is None) == (lengths is None):
        raise ValueError("padding_mask needs exactly one of tokens=... (with pad_id) or lengths=...")
    if tokens is not None:
        if pad_id is None:
            raise ValueError("padding_mask(tokens=...) also needs pad_id=... (the padding token id)")
        return tokens != pad_id
    lengths = torch.as_tensor(lengths)
    width = int(lengths.max()) if max_len is None else max_len
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


def check_mask(mask: torch.Tensor | None, name: str = "mask") -> None:
    """Refuse a mask that is not bool (a 0/1 or float mask would be read the wrong way)."""
    if mask is not None and mask.dtype != torch.bool:
        raise TypeError(
            f"{name} must be a bool tensor, True where attention is allowed; got {mask.dtype}. "
            "(nn.MultiheadAttention's key_padding_mask means the opposite: True = ignore.)"
        )


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last dimension of ``scores`` (..., S), with weight exactly 0 where
    ``mask`` (bool, broadcastable to ``scores``) is False.

    A row whose mask is all False (a query allowed to attend to nothing) gets all-zero
    weights, so its attention output is the zero vector. Why zeros rather than an error or
    NaN: it is what ``F.scaled_dot_product_attention`` returns (so the from-scratch and the
    fused attention agree on every input); a NaN would spread through the whole batch's loss
    and gradients; and checking for empty rows here would cost a device synchronisation at
    every attention call. Empty sequences are refused where they enter a model instead
    (``src_lengths`` must be >= 1).
    """
    if mask is None:
        return scores.softmax(dim=-1)
    check_mask(mask)
    try:
        fits = torch.broadcast_shapes(mask.shape, scores.shape) == scores.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(
            f"mask has shape {tuple(mask.shape)}, which does not broadcast to the scores' "
            f"shape {tuple(scores.shape)}"
        )
    weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)  # NaN on empty rows
    return weights.masked_fill(~mask, 0.0)  # (..., S): exactly 0 off the mask, empty rows too
