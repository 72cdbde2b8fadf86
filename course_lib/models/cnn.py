"""Convolutional networks for text: Kim's sentence CNN and a causal dilated convolution LM.

Also two from-scratch references for ``F.conv1d`` (explicit loops, and unfold + matmul) and the
output-length formula, for the chapter and its exercise.

Shapes: B batch, T time, E embedding dim, H channels (hidden_size), V vocab, C classes,
F filters, K kernel size. Token ids in, logits out, like every model of the course.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------- convolution from scratch


def conv1d_output_length(
    length: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """``floor((L + 2 padding - dilation (kernel_size - 1) - 1) / stride) + 1``, as ``F.conv1d``.

    Raises ValueError when the padded input is shorter than the dilated kernel (no output).
    """
    if kernel_size < 1 or stride < 1 or dilation < 1 or padding < 0 or length < 0:
        raise ValueError(
            "need kernel_size, stride, dilation >= 1 and length, padding >= 0; got "
            f"L={length}, kernel_size={kernel_size}, stride={stride}, padding={padding}, dilation={dilation}"
        )
    span = dilation * (kernel_size - 1) + 1  # positions one output looks at
    if length + 2 * padding < span:
        raise ValueError(
            f"input length {length} (+2x padding {padding}) is shorter than the dilated kernel span "
            f"{span}: pad the input or use a smaller kernel/dilation"
        )
    return (length + 2 * padding - span) // stride + 1


def _check_conv_inputs(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    if x.dim() != 3 or weight.dim() != 3:
        raise ValueError(
            f"x must be (B, C_in, L) and weight (C_out, C_in, K); got {tuple(x.shape)}, {tuple(weight.shape)}"
        )
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"weight expects {weight.shape[1]} input channels, x has {x.shape[1]}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"bias must be (C_out,) = ({weight.shape[0]},), got {tuple(bias.shape)}")


def _zero_pad(x: torch.Tensor, padding: int) -> torch.Tensor:
    padded = x.new_zeros(x.shape[0], x.shape[1], x.shape[2] + 2 * padding)
    padded[:, :, padding : padding + x.shape[2]] = x
    return padded


def conv1d_loops(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> torch.Tensor:
    """Reference 1-D convolution (cross-correlation) with loops over output positions and taps.

    ``out[b, o, t] = bias[o] + sum_{i, j} weight[o, i, j] * x_padded[b, i, t*stride + j*dilation]``
    with x (B, C_in, L), weight (C_out, C_in, K); returns (B, C_out, L_out). Slow: for teaching.
    """
    _check_conv_inputs(x, weight, bias)
    out_channels, _, kernel_size = weight.shape
    length_out = conv1d_output_length(x.shape[2], kernel_size, stride, padding, dilation)
    padded = _zero_pad(x, padding)  # (B, C_in, L + 2 padding)
    out = x.new_zeros(x.shape[0], out_channels, length_out)
    for t in range(length_out):
        for j in range(kernel_size):
            column = padded[:, :, t * stride + j * dilation]  # (B, C_in)
            out[:, :, t] += column @ weight[:, :, j].T  # (B, C_out)
    if bias is not None:
        out += bias[:, None]
    return out


def conv1d_unfold(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> torch.Tensor:
    """The same convolution as one matrix product: unfold windows into columns (im2col)."""
    _check_conv_inputs(x, weight, bias)
    out_channels, in_channels, kernel_size = weight.shape
    length_out = conv1d_output_length(x.shape[2], kernel_size, stride, padding, dilation)
    span = dilation * (kernel_size - 1) + 1
    windows = _zero_pad(x, padding).unfold(2, span, stride)  # (B, C_in, L_out, span)
    windows = windows[..., ::dilation]  # (B, C_in, L_out, K)
    columns = windows.permute(0, 2, 1, 3).reshape(x.shape[0], length_out, in_channels * kernel_size)
    out = columns @ weight.reshape(out_channels, in_channels * kernel_size).T  # (B, L_out, C_out)
    if bias is not None:
        out = out + bias
    return out.transpose(1, 2)  # (B, C_out, L_out)


def _check_tokens(tokens: torch.Tensor, model: str) -> None:
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.dtype != torch.long:
        got = (
            f"{tuple(tokens.shape)} {tokens.dtype}"
            if isinstance(tokens, torch.Tensor)
            else type(tokens).__name__
        )
        raise TypeError(
            f"{model} takes token ids as a (B, T) LongTensor, got {got}; "
            "use tokens.unsqueeze(0) for one sequence and torch.tensor(ids, dtype=torch.long)"
        )
    if tokens.shape[1] == 0:
        raise ValueError(f"{model} got empty sequences (T = 0); pass at least one token each")


# ---------------------------------------------------------------- Kim (2014) sentence CNN


@dataclass
class FilterActivations:
    """What each filter of a KimCNN responds to, for a batch of sentences.

    ``maps``: per kernel size, ReLU activations (B, F, T) by window start (-inf where the window
    starts on padding); ``values``/``positions``: (B, F_total) max-over-time value and the start
    of its window; ``widths``: (F_total,) the kernel size of each filter, so the n-gram is
    ``tokens[b, positions[b, f] : positions[b, f] + widths[f]]``.
    """

    maps: list[torch.Tensor]
    values: torch.Tensor
    positions: torch.Tensor
    widths: torch.Tensor


class KimCNN(nn.Module):
    """Embedding -> parallel Conv1d + ReLU -> max over time -> dropout -> linear (Kim, 2014).

    Padding: inside ``forward`` the tokens are right-padded with ``max(kernel_sizes) - 1`` pad
    ids, so every window that *starts* on a real token exists (sentences shorter than the widest
    kernel work), pad embeddings are zeroed, and windows starting on a pad are masked before
    max-pooling. Appending pad tokens therefore never changes the logits.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 128,
        num_classes: int = 2,
        kernel_sizes: Sequence[int] = (3, 4, 5),
        num_filters: int = 100,
        dropout: float = 0.5,
        pad_id: int = 0,
    ):
        super().__init__()
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1 (empty vocabulary?), got {vocab_size}")
        if not kernel_sizes or any(k < 1 for k in kernel_sizes):
            raise ValueError(
                f"kernel_sizes must be a non-empty list of sizes >= 1, got {kernel_sizes}"
            )
        if not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id {pad_id} must be a vocabulary id in [0, {vocab_size})")
        self.pad_id = pad_id
        self.kernel_sizes = tuple(kernel_sizes)
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, num_filters, k) for k in self.kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(num_filters * len(self.kernel_sizes), num_classes)

    def _feature_maps(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """Per kernel size, (B, F, T) activations by window start, -inf where it starts on a pad."""
        _check_tokens(tokens, "KimCNN")
        extra = max(self.kernel_sizes) - 1
        real = tokens != self.pad_id  # (B, T)
        padded = F.pad(tokens, (0, extra), value=self.pad_id)  # (B, T + extra)
        x = self.embedding(padded) * (padded != self.pad_id).unsqueeze(-1)  # (B, T + extra, E)
        x = x.transpose(1, 2)  # (B, E, T + extra)
        length = tokens.shape[1]
        return [
            F.relu(conv(x))[:, :, :length].masked_fill(~real.unsqueeze(1), float("-inf"))
            for conv in self.convs
        ]  # each (B, F, T)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) LongTensor -> logits (B, C)."""
        maxima = [m.amax(dim=2) for m in self._feature_maps(tokens)]  # each (B, F)
        # ReLU outputs are >= 0, so clamping only turns -inf (an all-pad sentence) into 0.
        pooled = torch.cat(maxima, dim=1).clamp_min(0)  # (B, F_total)
        return self.classifier(self.dropout(pooled))  # (B, C)

    @torch.no_grad()
    def filter_activations(self, tokens: torch.Tensor) -> FilterActivations:
        """Per-filter activation maps, max values and argmax window starts (see FilterActivations)."""
        maps = self._feature_maps(tokens)
        values, positions = torch.cat(maps, dim=1).max(dim=2)  # (B, F_total) each
        widths = torch.tensor(
            [k for k, m in zip(self.kernel_sizes, maps, strict=True) for _ in range(m.shape[1])],
            device=tokens.device,
        )
        return FilterActivations(maps, values.clamp_min(0), positions, widths)

    @torch.no_grad()
    def apply_max_norm(self, max_norm: float = 3.0) -> None:
        """Kim's constraint: rescale each row of the output layer weight to L2 norm <= max_norm.

        Call it after every ``optimizer.step()``.
        """
        self.classifier.weight.copy_(
            torch.renorm(self.classifier.weight, p=2, dim=0, maxnorm=max_norm)
        )


# ---------------------------------------------------------------- causal dilated convolution LM


class CausalConv1d(nn.Conv1d):
    """Conv1d padded on the left only, by (kernel_size - 1) * dilation: output t sees inputs <= t."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.left_padding = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, T) -> (B, C_out, T)
        return super().forward(F.pad(x, (self.left_padding, 0)))


class CausalConvBlock(nn.Module):
    """Pre-norm residual block: h + dropout(linear(GELU(causal dilated conv(norm(h)))))."""

    def __init__(self, hidden_size: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size)
        self.conv = CausalConv1d(hidden_size, hidden_size, kernel_size, dilation)
        self.proj = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, T, H) -> (B, T, H)
        x = self.conv(self.norm(h).transpose(1, 2)).transpose(1, 2)  # (B, T, H)
        return h + self.dropout(self.proj(F.gelu(x)))


class CausalConvLM(nn.Module):
    """A WaveNet/TCN-style language model: a stack of causal convolutions, dilation 2**i.

    Layer i (0-based) has dilation 2**i, so the output at position t depends exactly on the
    ``receptive_field = 1 + (kernel_size - 1) * (2**num_layers - 1)`` positions
    t - receptive_field + 1 .. t. ``block_size`` equals it: the context ``decoding.generate``
    needs to keep.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 64,
        hidden_size: int = 128,
        num_layers: int = 4,
        kernel_size: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__()
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1 (empty vocabulary?), got {vocab_size}")
        if kernel_size < 1 or num_layers < 1:
            raise ValueError(
                f"need kernel_size >= 1 and num_layers >= 1, got {kernel_size}, {num_layers}"
            )
        self.kernel_size = kernel_size
        self.num_layers = num_layers
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.input_proj = nn.Linear(embed_dim, hidden_size)
        self.blocks = nn.ModuleList(
            CausalConvBlock(hidden_size, kernel_size, 2**i, dropout) for i in range(num_layers)
        )
        self.norm = nn.LayerNorm(hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)

    @property
    def receptive_field(self) -> int:
        """Input positions one output depends on (the current one included)."""
        return 1 + (self.kernel_size - 1) * (2**self.num_layers - 1)

    @property
    def block_size(self) -> int:
        """Context length for generation: the receptive field."""
        return self.receptive_field

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) LongTensor -> next-token logits (B, T, V); any T >= 1."""
        _check_tokens(tokens, "CausalConvLM")
        h = self.input_proj(self.embedding(tokens))  # (B, T, H)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))  # (B, T, V)
