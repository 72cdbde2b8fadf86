"""The course's figures, drawn the same way everywhere: loss curves, heatmaps, result bars.

Every function draws on ``ax`` (a new figure when it is None), labels its axes and returns
the Axes. None calls ``plt.show()``: Jupyter shows the figure, and tests can inspect it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

Curve = Sequence[float] | tuple[Sequence[int], Sequence[float]]


def plot_losses(
    curves: Any, ax: Axes | None = None, title: str | None = None, log_y: bool = False
) -> Axes:
    """Loss curves against the training step.

    ``curves`` is a ``training.History`` (its training loss and eval losses are drawn) or a
    mapping from a name to ``(steps, values)`` or to values alone (then at steps 1, 2, ...).
    Curves with few points (evaluations) get markers.
    """
    if hasattr(curves, "curves"):
        curves = curves.curves()
    if not isinstance(curves, Mapping) or not curves:
        raise TypeError("plot_losses takes a History or a non-empty dict {name: values}")
    ax = ax if ax is not None else plt.subplots(figsize=(6, 3.5))[1]
    for name, curve in curves.items():
        steps, values = _steps_and_values(curve)
        few = len(values) <= 50
        ax.plot(steps, values, label=name, marker="o" if few else None, markersize=3,
                linewidth=1.5 if few else 1.0)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def _steps_and_values(curve: Curve) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(curve, tuple) and len(curve) == 2 and all(hasattr(c, "__len__") for c in curve):
        steps, values = np.asarray(curve[0]), np.asarray(curve[1], dtype=float)
        if steps.shape != values.shape:
            raise ValueError(f"steps and values differ in length: {len(steps)} vs {len(values)}")
        return steps, values
    values = np.asarray(curve, dtype=float)
    return np.arange(1, len(values) + 1), values


def heatmap(
    matrix: Any,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    cmap: str = "viridis",
    annotate: bool = False,
    xlabel: str | None = None,
    ylabel: str | None = None,
    fmt: str = ".2f",
) -> Axes:
    """A matrix as coloured cells with a colorbar: attention weights, confusion matrices, HMM
    transitions. Rows run down the y axis, columns along the x axis (``matrix[row, col]``).
    ``annotate=True`` writes each value (formatted with ``fmt``) in its cell.
    """
    values = _as_array(matrix)
    if values.ndim != 2:
        raise ValueError(f"heatmap needs a 2-D matrix, got shape {values.shape}")
    for labels, size, what in ((row_labels, values.shape[0], "row_labels"),
                               (col_labels, values.shape[1], "col_labels")):
        if labels is not None and len(labels) != size:
            raise ValueError(f"{what} has {len(labels)} labels for {size} {what[:3]}s")
    ax = ax if ax is not None else plt.subplots(figsize=(6, 5))[1]
    image = ax.imshow(values, cmap=cmap, aspect="auto")
    ax.figure.colorbar(image, ax=ax)
    if row_labels is not None:
        ax.set_yticks(range(values.shape[0]), labels=list(row_labels))
    if col_labels is not None:
        long = max((len(str(label)) for label in col_labels), default=0) > 3
        ax.set_xticks(range(values.shape[1]), labels=list(col_labels), rotation=90 if long else 0)
    if annotate:
        middle = (np.nanmax(values) + np.nanmin(values)) / 2
        for (row, col), value in np.ndenumerate(values):
            ax.text(col, row, format(value, fmt), ha="center", va="center", fontsize=8,
                    color="black" if value > middle else "white")
    ax.set_xlabel(xlabel or "")
    ax.set_ylabel(ylabel or "")
    if title:
        ax.set_title(title)
    return ax


def bar_chart(
    results: Mapping[str, float],
    ax: Axes | None = None,
    title: str | None = None,
    xlabel: str = "value",
    fmt: str = ".2f",
) -> Axes:
    """Horizontal bars, one per entry, each labelled with its value: the course's running
    table of results (e.g. validation perplexity per model), in the order given.
    """
    if not results:
        raise ValueError("bar_chart needs at least one result")
    names, values = list(results), [float(v) for v in results.values()]
    ax = ax if ax is not None else plt.subplots(figsize=(6, 0.5 + 0.4 * len(names)))[1]
    bars = ax.barh(names, values)
    ax.bar_label(bars, labels=[format(v, fmt) for v in values], padding=3)
    ax.invert_yaxis()  # the first entry at the top, as in a table
    ax.set_xlabel(xlabel)
    ax.margins(x=0.15)
    if title:
        ax.set_title(title)
    return ax


def _as_array(matrix: Any) -> np.ndarray:
    if hasattr(matrix, "detach"):  # a torch tensor, possibly on a GPU
        matrix = matrix.detach().float().cpu().numpy()
    return np.asarray(matrix, dtype=float)
