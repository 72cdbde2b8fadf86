"""Architecture diagrams the chapters draw: the unrolled RNN, the LSTM cell, the
encoder-decoder with its context vector, attention's alignment and the Transformer block.

Each function returns a matplotlib ``Figure`` (shown by the notebook, saved with
``fig.savefig("x.svg")`` for a page). They are drawings of the equations the chapters
implement, not plots of data: every box is labelled with the tensor or operation it stands for.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

COLOURS = {"input": "#e3f2fd", "state": "#fff3e0", "output": "#e8f5e9", "op": "#f3e5f5",
           "context": "#ffebee", "norm": "#eceff1"}


def _canvas(width: float, height: float, title: str):
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(0, width * 10)
    ax.set_ylim(0, height * 10)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=12)
    return fig, ax


def _box(ax, x, y, text, kind="state", width=8.0, height=5.0, fontsize=10):
    """A rounded box centred on (x, y)."""
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.3,rounding_size=1.2", linewidth=1.2,
                                edgecolor="#37474f", facecolor=COLOURS[kind]))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, colour="#37474f", width=1.2, style="-|>", curve=0.0):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12,
                                 linewidth=width, color=colour,
                                 connectionstyle=f"arc3,rad={curve}", shrinkA=2, shrinkB=2))


def unrolled_rnn(steps: int = 4):
    """One RNN cell applied at every step: the same weights, the state passed along."""
    fig, ax = _canvas(2.4 * steps + 1.2, 4.2, "An RNN, unrolled over time (shared weights)")
    for t in range(steps):
        x = 12 + 24 * t
        name = f"t={t + 1}" if t < steps - 1 else "t=T"
        _box(ax, x, 9, f"$x_{{{name[2:]}}}$", "input")
        _box(ax, x, 21, f"$h_{{{name[2:]}}}$\ntanh", "state", height=6)
        _box(ax, x, 34, f"$y_{{{name[2:]}}}$", "output")
        _arrow(ax, (x, 11.8), (x, 17.7))
        _arrow(ax, (x, 24.3), (x, 31.2))
        ax.text(x + 1.2, 14.5, "$W_{ih}$", fontsize=8)
        ax.text(x + 1.2, 27.3, "$W_{hy}$", fontsize=8)
        if t < steps - 1:
            _arrow(ax, (x + 4.5, 21), (x + 19.5, 21))
            ax.text(x + 12, 22.5, "$W_{hh}$", ha="center", fontsize=8)
    _arrow(ax, (0.5, 21), (7.5, 21), colour="#90a4ae")
    ax.text(0.5, 23, "$h_0$", fontsize=8)
    return fig


def lstm_cell():
    """The LSTM cell: gates f, i, o and candidate g; the additive path of the cell state."""
    fig, ax = _canvas(7.6, 5.0, "The LSTM cell: an additive memory path, opened by gates")
    ax.plot([4, 72], [42, 42], color="#c62828", linewidth=2.5)  # the cell-state highway
    ax.text(3, 44, "$c_{t-1}$", fontsize=10)
    ax.text(68, 44, "$c_t$", fontsize=10)
    _box(ax, 22, 42, "×", "op", width=4, height=4, fontsize=12)
    _box(ax, 40, 42, "+", "op", width=4, height=4, fontsize=12)
    gates = [(14, "$f_t$ = σ", "forget"), (30, "$i_t$ = σ", "input"),
             (42, "$g_t$ = tanh", "candidate"), (56, "$o_t$ = σ", "output")]
    for x, label, role in gates:
        _box(ax, x, 20, label, "state", width=10, height=5, fontsize=9)
        ax.text(x + 1, 13.5, role, ha="left", fontsize=7, color="#546e7a")  # beside its arrow
        _arrow(ax, (x, 10.5), (x, 17.2), colour="#90a4ae")
    ax.plot([6, 62], [10, 10], color="#90a4ae", linewidth=1.2)
    ax.text(2, 6, "$[x_t, h_{t-1}]$", fontsize=9)
    _arrow(ax, (14, 22.8), (21, 40))
    _box(ax, 36, 31, "×", "op", width=4, height=4, fontsize=12)
    _arrow(ax, (30, 22.8), (34.5, 29.4))
    _arrow(ax, (42, 22.8), (37.5, 29.4))
    _arrow(ax, (36, 33.2), (39.5, 40))
    _box(ax, 62, 34, "tanh", "op", width=6, height=4, fontsize=8)
    _arrow(ax, (58, 42), (62, 36.2), curve=-0.3)
    _box(ax, 66, 22, "×", "op", width=4, height=4, fontsize=12)
    _arrow(ax, (56, 22.8), (64, 22.4))
    _arrow(ax, (63, 31.8), (65.5, 24.2))
    _arrow(ax, (68.2, 22), (74, 22))
    ax.text(70, 24, "$h_t$", fontsize=10)
    ax.text(44, 3, "$c_t = f_t \\odot c_{t-1} + i_t \\odot g_t$\n$h_t = o_t \\odot \\tanh(c_t)$",
            fontsize=9)
    return fig


def encoder_decoder(source=("ein", "Hund", "läuft"), target=("a", "dog", "runs")):
    """A GRU encoder reads the source into one context vector; the decoder writes from it."""
    fig, ax = _canvas((16 * (len(source) + len(target) + 1) + 4) / 10, 4.8,
                      "Encoder-decoder: everything passes through one context vector")
    for s, word in enumerate(source):
        x = 8 + 16 * s
        _box(ax, x, 9, word, "input", width=10)
        _box(ax, x, 24, f"$h_{s + 1}$", "state")
        _arrow(ax, (x, 11.8), (x, 20.7))
        if s:
            _arrow(ax, (x - 11.5, 24), (x - 4.5, 24))
    cx = 8 + 16 * len(source)
    _box(ax, cx, 24, "context\n$c = h_S$", "context", width=10, height=7)
    _arrow(ax, (cx - 11.5, 24), (cx - 5.5, 24))
    for t, word in enumerate(target):
        x = cx + 16 * (t + 1)
        _box(ax, x, 24, f"$s_{t + 1}$", "state")
        _box(ax, x, 38, word, "output", width=10)
        previous = ("<bos>",) + tuple(target)
        _box(ax, x, 9, previous[t], "input", width=10, fontsize=8)
        _arrow(ax, (x, 11.8), (x, 20.7))
        _arrow(ax, (x, 27.3), (x, 35.2))
        _arrow(ax, (x - 11.5 if t else cx + 5.5, 24), (x - 4.5, 24))
        _arrow(ax, (cx, 27.8), (x - 1, 27.3), colour="#c62828", curve=-0.25, width=0.8)
    ax.text(8, 33, "encoder", fontsize=10, color="#546e7a")
    ax.text(cx + 8, 43, "decoder (the context feeds every step)", fontsize=9,
            color="#546e7a")
    return fig


def attention_alignment(weights, source, target):
    """Each target word's query spreads a weight over the source words; line width = weight.

    ``weights`` is (T, S): row t sums to 1 (a softmax over the source positions).
    """
    rows, columns = len(target), len(source)
    if tuple(getattr(weights, "shape", (len(weights), len(weights[0])))) != (rows, columns):
        raise ValueError(f"weights must be (len(target), len(source)) = ({rows}, {columns})")
    width = max(rows, columns) * 1.5 + 1
    fig, ax = _canvas(width, 3.6, "Attention: each output word looks at every input word")
    step = (width * 10 - 8) / max(rows, columns)
    for s, word in enumerate(source):
        _box(ax, 6 + step * (s + 0.5), 6, word, "input", width=step * 0.8, fontsize=8)
    for t, word in enumerate(target):
        _box(ax, 6 + step * (t + 0.5), 30, word, "output", width=step * 0.8, fontsize=8)
        for s in range(columns):
            weight = float(weights[t][s])
            if weight > 0.02:
                ax.plot([6 + step * (t + 0.5), 6 + step * (s + 0.5)], [27.2, 8.8],
                        color="#1e88e5", alpha=min(1.0, 0.25 + weight),
                        linewidth=0.5 + 6 * weight)
    ax.text(1, 17.5, "weights\n$\\alpha_{ts}$", fontsize=8, color="#546e7a")
    return fig


def transformer_block():
    """A pre-norm Transformer block, as chapter 09's GPT stacks it, with its two residuals."""
    fig, ax = _canvas(5.0, 6.6, "A Transformer block (pre-norm), repeated N times")
    _box(ax, 22, 5, "token embedding + position", "input", width=30)
    layers = [(16, "LayerNorm", "norm"), (25, "masked multi-head\nself-attention", "op"),
              (34, "+", "op"), (42, "LayerNorm", "norm"),
              (51, "feed-forward\nLinear → GELU → Linear", "op"), (60, "+", "op")]
    previous = 7.8
    for y, label, kind in layers:
        small = label == "+"
        _box(ax, 22, y, label, kind, width=4 if small else 26, height=3.5 if small else 5,
             fontsize=11 if small else 8)
        _arrow(ax, (22, previous), (22, y - (1.8 if small else 2.6)))
        previous = y + (1.8 if small else 2.6)
    for start, plus in ((11.5, 34), (38.5, 60)):  # the residual: around the sub-layer
        ax.plot([22, 37, 37], [start, start, plus], color="#c62828", linewidth=1.2)
        _arrow(ax, (37, plus), (24.2, plus), colour="#c62828")
    ax.text(38, 22, "residual\n$x + \\mathrm{Attn}(\\mathrm{LN}(x))$", fontsize=7,
            color="#c62828")
    ax.text(38, 48, "residual\n$x + \\mathrm{FFN}(\\mathrm{LN}(x))$", fontsize=7,
            color="#c62828")
    _arrow(ax, (22, 61.8), (22, 65))
    return fig
