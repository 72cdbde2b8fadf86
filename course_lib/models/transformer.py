"""Transformers: an encoder-decoder for translation and a decoder-only GPT, with a KV cache.

The building blocks (masks, attention, positions, pre-norm blocks) live in
``course_lib.models.transformer_layers`` and are re-exported here.

Shape letters: B batch, S source length, T target/time, D model dim (``embed_dim``),
V vocabulary, heads attention heads, Dh = D // heads. Masks are bool, True = may attend.

Interfaces shared with the rest of the course:

- ``GPT.forward(tokens (B, T)) -> logits (B, T, V)``, with a ``block_size`` attribute, like
  every language model; ``course_lib.decoding.generate`` crops the context to it.
- ``GPT.forward(tokens, cache)`` with a ``KVCache`` (``gpt.new_cache()``) runs new positions
  after the cached ones and extends the cache in place: one code path with and without it.
  ``decoding.generate`` uses it for every model with a ``new_cache`` method, feeding the
  prompt once and then one token at a time: same outputs as the uncached model, each new
  token costing one position instead of the whole context.
- ``TransformerSeq2Seq.forward(src (B, S), src_lengths (B,), tgt_in (B, T)) -> logits
  (B, T, V)`` (teacher forcing, every target position at once): the contract of the recurrent
  ``models.seq2seq`` models, so ``models.seq2seq.seq2seq_loss`` trains all of them. For decoding it follows the protocol of
  ``course_lib.decoding.greedy_decode`` / ``beam_search``, shared with the recurrent
  ``models.seq2seq``: ``encode(src, src_lengths) -> DecoderState`` once, then
  ``decode_step(prev_tokens (B,), state) -> (logits (B, V), state)`` per token; the state
  holds the encoder memory, its cross-attention keys/values and the decoder's self-attention
  KV cache, and ``state.select(index)`` picks batch rows (beams).
  ``decode(tgt_in, state) -> logits (B, T, V)`` runs a whole target prefix without the cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from course_lib.models.transformer_layers import (
    DecoderBlock,
    FeedForward,
    LayerCache,
    LearnedPositionalEmbedding,
    MultiHeadAttention,
    SinusoidalPositionalEncoding,
    TransformerBlock,
    causal_mask,
    fused_attention,
    padding_mask,
    scaled_dot_product_attention,
    sinusoidal_positions,
)

__all__ = [
    "GPT", "DecoderBlock", "DecoderState", "FeedForward", "KVCache", "LayerCache",
    "LearnedPositionalEmbedding", "MultiHeadAttention", "SinusoidalPositionalEncoding",
    "TransformerBlock", "TransformerSeq2Seq", "causal_mask", "fused_attention", "padding_mask",
    "scaled_dot_product_attention", "sinusoidal_positions",
]


def _check_tokens(tokens: torch.Tensor, max_len: int, name: str, limit_name: str) -> None:
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2:
        shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        raise ValueError(f"{name} must be a 2-D tensor of token ids (B, T); got {shape}")
    if tokens.dtype not in (torch.long, torch.int32):
        raise TypeError(f"{name} must hold integer token ids (torch.long); got {tokens.dtype}")
    if tokens.shape[1] > max_len:
        raise ValueError(
            f"{name} has {tokens.shape[1]} positions but the model's {limit_name} is {max_len}: "
            f"crop it (e.g. tokens[:, -{max_len}:]) or build the model with a larger {limit_name}"
        )


class DecoderState(NamedTuple):
    """What ``TransformerSeq2Seq.encode`` returns and ``decode_step`` reads and returns.

    A tuple of batch-first tensors, so beam search can repeat or reorder every part at once
    with ``select``; ``decode_step`` returns a new state and never changes the one it got.
    """

    memory: torch.Tensor  # (B, S, D) encoder states
    src_mask: torch.Tensor  # (B, S) bool, True at real source tokens
    memory_keys: tuple[torch.Tensor, ...]  # per decoder layer (B, heads, S, Dh), cross-attention
    memory_values: tuple[torch.Tensor, ...]  # per decoder layer (B, heads, S, Dh)
    tokens: torch.Tensor  # (B, t) the target prefix fed so far (starts with <bos>)
    self_keys: tuple[torch.Tensor, ...] = ()  # per decoder layer (B, heads, t, Dh), empty at t=0
    self_values: tuple[torch.Tensor, ...] = ()

    def select(self, index: torch.Tensor) -> DecoderState:
        """The rows ``index`` (B',) of the batch, e.g. each source repeated once per beam."""
        def rows(parts):
            return tuple(part[index] for part in parts)

        return DecoderState(self.memory[index], self.src_mask[index], rows(self.memory_keys),
                            rows(self.memory_values), self.tokens[index], rows(self.self_keys),
                            rows(self.self_values))


class TransformerSeq2Seq(nn.Module):
    """The encoder-decoder Transformer (Vaswani et al., 2017) with pre-norm blocks.

    Token embeddings are scaled by √D and added to sinusoidal positions; the output layer
    shares its weights with the target embedding. Padded source positions (``pad_id``) are
    never attended to. Target sequences must be right-padded: causal self-attention then
    keeps real positions from ever seeing the padding after them.
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        embed_dim: int = 256,
        num_heads: int = 4,
        num_layers: int = 3,
        ff_dim: int = 1024,
        dropout: float = 0.1,
        pad_id: int = 0,
        max_len: int = 256,
    ):
        super().__init__()
        self.embed_dim, self.pad_id, self.max_len = embed_dim, pad_id, max_len
        self.src_embedding = nn.Embedding(src_vocab_size, embed_dim, padding_idx=pad_id)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, embed_dim, padding_idx=pad_id)
        self.positions = SinusoidalPositionalEncoding(max_len, embed_dim)
        self.dropout = nn.Dropout(dropout)
        self.encoder = nn.ModuleList(
            TransformerBlock(embed_dim, num_heads, ff_dim, dropout) for _ in range(num_layers)
        )
        self.encoder_norm = nn.LayerNorm(embed_dim)
        self.decoder = nn.ModuleList(
            DecoderBlock(embed_dim, num_heads, ff_dim, dropout) for _ in range(num_layers)
        )
        self.decoder_norm = nn.LayerNorm(embed_dim)
        self.output = nn.Linear(embed_dim, tgt_vocab_size, bias=False)
        for embedding in (self.src_embedding, self.tgt_embedding):
            nn.init.normal_(embedding.weight, std=embed_dim**-0.5)  # x √D: unit-variance inputs
            nn.init.zeros_(embedding.weight[pad_id])
        self.output.weight = self.tgt_embedding.weight  # weight tying

    def _embed(self, embedding: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
        x = embedding(tokens) * math.sqrt(self.embed_dim)  # (B, L, D)
        return self.dropout(self.positions(x))

    def _source_mask(self, src: torch.Tensor, src_lengths: torch.Tensor | None) -> torch.Tensor:
        """(B, S) bool, True at real tokens: from ``src_lengths`` if given, else from ``pad_id``."""
        if src_lengths is None:
            return padding_mask(tokens=src, pad_id=self.pad_id)
        lengths = torch.as_tensor(src_lengths)
        if lengths.shape != (src.shape[0],):
            raise ValueError(f"src_lengths must have shape (B,) = ({src.shape[0]},), got "
                             f"{tuple(lengths.shape)}")
        if int(lengths.min()) < 1 or int(lengths.max()) > src.shape[1]:
            raise ValueError(f"src_lengths must be in [1, S={src.shape[1]}]; drop empty sources")
        return padding_mask(lengths=lengths, max_len=src.shape[1]).to(src.device)

    def _encode_memory(self, src, src_lengths=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder: ``(memory (B, S, D), src_mask (B, S))``."""
        _check_tokens(src, self.max_len, "src", "max_len")
        src_mask = self._source_mask(src, src_lengths)  # (B, S)
        x = self._embed(self.src_embedding, src)
        for block in self.encoder:
            x, _ = block(x, key_padding_mask=src_mask)
        return self.encoder_norm(x), src_mask

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor | None = None) -> DecoderState:
        """Encode ``src`` (B, S) once; the state before the first target token.

        Padding is found from ``src_lengths`` (B,) when given (as ``decoding.greedy_decode``
        and ``beam_search`` pass it), else from ``pad_id``; right-padded batches give the same
        mask either way. The cross-attention keys and values of every decoder layer are
        computed here, once per sentence, not at every decoding step.
        """
        memory, src_mask = self._encode_memory(src, src_lengths)  # (B, S, D), (B, S)
        memory_kv = [block.cross_attn.project_key_value(memory, memory) for block in self.decoder]
        no_tokens = src.new_zeros(src.shape[0], 0)  # (B, 0)
        return DecoderState(memory, src_mask, tuple(k for k, _ in memory_kv),
                            tuple(v for _, v in memory_kv), no_tokens)

    def decode(self, tgt_in: torch.Tensor, state: DecoderState) -> torch.Tensor:
        """Next-token logits (B, T, V) for the whole target prefix ``tgt_in`` (B, T) after
        ``encode``; reads only the state's memory and source mask."""
        return self._decode(tgt_in, state.memory, state.src_mask)

    def _decode(self, tgt_in, memory, src_mask) -> torch.Tensor:
        return self.output(self._decoder_states(tgt_in, memory, src_mask))  # (B, T, V)

    def _decoder_states(self, tgt_in, memory, src_mask) -> torch.Tensor:
        """The decoder's last states (B, T, D), normalised: what the output layer reads."""
        _check_tokens(tgt_in, self.max_len, "tgt_in", "max_len")
        x = self._embed(self.tgt_embedding, tgt_in)
        for block in self.decoder:
            x, _, _ = block(x, memory, src_mask)
        return self.decoder_norm(x)

    def decode_step(self, prev_tokens: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        """Logits (B, V) for the token after ``prev_tokens`` (B,), and the new state.

        Feed <bos> first, then each chosen token. The logits equal ``decode`` (and
        ``forward``) on the prefix so far at its last position; each step computes one
        position, reusing the cached keys and values of the earlier ones.
        """
        states, state = self._step(prev_tokens, state)  # (B, D)
        return self.output(states), state

    def _step(self, prev_tokens: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        """``decode_step`` before the output layer: the decoder's last state (B, D), normalised."""
        if not torch.is_tensor(prev_tokens) or prev_tokens.dim() != 1:
            raise ValueError("prev_tokens must be a 1-D LongTensor (B,) with one id per row")
        past_len = state.tokens.shape[1]
        if past_len >= self.max_len:
            raise ValueError(f"The target prefix already has max_len={self.max_len} tokens: "
                             "decode with a smaller max_len or build the model with a larger one")
        x = self.tgt_embedding(prev_tokens[:, None]) * math.sqrt(self.embed_dim)  # (B, 1, D)
        x = self.dropout(self.positions(x, offset=past_len))
        caches = [LayerCache(*past) for past in zip(state.self_keys, state.self_values, strict=True)]
        caches = caches or [LayerCache() for _ in self.decoder]  # new holders: state is not changed
        for layer, block in enumerate(self.decoder):
            memory_kv = (state.memory_keys[layer], state.memory_values[layer])
            x, _, _ = block(x, state.memory, state.src_mask, cache=caches[layer], memory_kv=memory_kv)
        tokens = torch.cat([state.tokens, prev_tokens[:, None]], dim=1)  # (B, t + 1)
        state = state._replace(tokens=tokens, self_keys=tuple(c.keys for c in caches),
                               self_values=tuple(c.values for c in caches))
        return self.decoder_norm(x)[:, 0], state  # (B, D)

    def forward(
        self, src: torch.Tensor, src_lengths: torch.Tensor | None, tgt_in: torch.Tensor
    ) -> torch.Tensor:
        """Teacher forcing: logits (B, T, V) predicting ``tgt_in`` shifted left by one.

        The signature of every encoder-decoder of the course (``models.seq2seq``), so
        ``seq2seq_loss`` trains them all; ``src_lengths`` may be ``None`` here (padding is
        then found from ``pad_id``).
        """
        return self._decode(tgt_in, *self._encode_memory(src, src_lengths))

    @torch.no_grad()
    def attention_maps(self, src: torch.Tensor, tgt_in: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """Attention weights per layer, no gradients: ``{"encoder": [(B, heads, S, S)] * layers,
        "decoder": [(B, heads, T, T)] * layers, "cross": [(B, heads, T, S)] * layers}``."""
        _check_tokens(src, self.max_len, "src", "max_len")
        _check_tokens(tgt_in, self.max_len, "tgt_in", "max_len")
        maps: dict[str, list[torch.Tensor]] = {"encoder": [], "decoder": [], "cross": []}
        src_mask = padding_mask(tokens=src, pad_id=self.pad_id)
        x = self._embed(self.src_embedding, src)
        for block in self.encoder:
            x, weights = block(x, key_padding_mask=src_mask, need_weights=True)
            maps["encoder"].append(weights)
        memory = self.encoder_norm(x)
        y = self._embed(self.tgt_embedding, tgt_in)
        for block in self.decoder:
            y, self_weights, cross_weights = block(y, memory, src_mask, need_weights=True)
            maps["decoder"].append(self_weights)
            maps["cross"].append(cross_weights)
        return maps


@dataclass
class KVCache:
    """Everything a GPT needs to continue sequences without recomputing them.

    ``GPT.new_cache()`` makes an empty one; ``gpt(tokens, cache)`` reads it and extends it in
    place (the layers' ``LayerCache`` holders and ``tokens``). ``select`` makes a new cache
    of some batch rows (for beam search) and ``copy`` a snapshot; neither shares a holder.
    """

    layers: list[LayerCache]  # per layer: keys and values (B, heads, L, Dh)
    tokens: torch.Tensor | None = None  # (B, L) the tokens seen so far

    @property
    def length(self) -> int:
        return 0 if self.tokens is None else self.tokens.shape[1]

    def select(self, index: torch.Tensor) -> KVCache:
        """The rows ``index`` (B',) of the batch, as a new cache."""
        if self.tokens is None:
            return self.copy()
        layers = [LayerCache(layer.keys[index], layer.values[index]) for layer in self.layers]
        return KVCache(layers, self.tokens[index])

    def copy(self) -> KVCache:
        """A snapshot: extending the copy leaves this cache as it is."""
        return KVCache([LayerCache(layer.keys, layer.values) for layer in self.layers], self.tokens)


class GPT(nn.Module):
    """A decoder-only Transformer language model in the style of GPT-2 / nanoGPT.

    Token plus learned position embeddings, ``num_layers`` pre-norm causal blocks (MLP width
    4D, GELU), a final LayerNorm and an output layer tied to the token embedding. Weights are
    initialised N(0, 0.02), the projections that write into the residual stream with
    0.02 / √(2 · num_layers) so the stream's variance does not grow with depth.
    """

    def __init__(
        self,
        vocab_size: int,
        block_size: int,
        embed_dim: int,
        num_heads: int,
        num_layers: int,
        dropout: float = 0.0,
        bias: bool = False,
    ):
        super().__init__()
        self.block_size = block_size
        self.token_embedding = nn.Embedding(vocab_size, embed_dim)
        self.positions = LearnedPositionalEmbedding(block_size, embed_dim)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(embed_dim, num_heads, 4 * embed_dim, dropout, bias)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(embed_dim, bias=bias)
        self.lm_head = nn.Linear(embed_dim, vocab_size, bias=False)
        self.lm_head.weight = self.token_embedding.weight  # weight tying
        self.apply(self._init_weights)
        for block in self.blocks:  # residual projections
            for proj in (block.attn.out_proj, block.ff.proj):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * num_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def new_cache(self) -> KVCache:
        """An empty ``KVCache`` for ``forward(tokens, cache)``."""
        return KVCache([LayerCache() for _ in self.blocks])

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Next-token logits (B, T, V) for ``tokens`` (B, T), T <= block_size.

        With a ``cache`` (from ``new_cache()``, or filled by earlier calls) the tokens follow the
        cached ones, which are not recomputed, and the cache is extended in place: the logits
        equal ``forward`` without a cache on the whole sequence so far, cropped to its last
        ``block_size`` tokens, at the last T positions. Positions are absolute, so once the
        sequence outgrows ``block_size`` the window slides, every position changes and the last
        ``block_size`` tokens are recomputed into a fresh cache.
        """
        _check_tokens(tokens, self.block_size, "tokens", "block_size")
        past_len = 0 if cache is None else cache.length
        if past_len and cache.tokens.shape[0] != tokens.shape[0]:
            raise ValueError(f"tokens has batch {tokens.shape[0]} but the cache {cache.tokens.shape[0]}")
        if past_len + tokens.shape[1] > self.block_size:  # the window slides: start afresh
            window = torch.cat([cache.tokens, tokens], dim=1)[:, -self.block_size :]
            cache.layers, cache.tokens = self.new_cache().layers, None
            return self(window, cache)[:, -tokens.shape[1] :]
        x = self.token_embedding(tokens)
        x = self.dropout(self.positions(x, offset=past_len))  # (B, T, D)
        for layer, block in enumerate(self.blocks):
            x, _ = block(x, is_causal=True, cache=None if cache is None else cache.layers[layer])
        if cache is not None:
            cache.tokens = tokens if cache.tokens is None else torch.cat([cache.tokens, tokens], dim=1)
        return self.lm_head(self.norm(x))  # (B, T, V)

    @torch.no_grad()
    def attention_maps(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """Attention weights (B, heads, T, T) of every layer, from the from-scratch path."""
        _check_tokens(tokens, self.block_size, "tokens", "block_size")
        x = self.dropout(self.positions(self.token_embedding(tokens)))
        maps = []
        for block in self.blocks:
            x, weights = block(x, is_causal=True, need_weights=True)
            maps.append(weights)
        return maps
