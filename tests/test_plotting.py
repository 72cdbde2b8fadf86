"""Plotting helpers: they draw what they are given, label the axes and return the Axes."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib.plotting import bar_chart, heatmap, plot_losses
from course_lib.training import History


@pytest.fixture(autouse=True)
def agg_backend():
    plt.switch_backend("Agg")  # no windows, whatever MPLBACKEND says
    yield
    plt.close("all")


def test_plot_losses_from_a_history_draws_train_and_eval_curves():
    history = History(steps=[1, 2, 3, 4], train_loss=[4.0, 3.0, 2.5, 2.0], lr=[1e-3] * 4,
                      evals={2: {"val_loss": 3.2, "accuracy": 0.4}, 4: {"val_loss": 2.4}})
    ax = history.plot()
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"train_loss", "val_loss"}  # accuracy is not a loss
    assert list(lines["val_loss"].get_xdata()) == [2, 4]
    assert list(lines["val_loss"].get_ydata()) == [3.2, 2.4]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train_loss", "val_loss"]
    ax = history.plot(metrics=["accuracy"])
    assert [line.get_label() for line in ax.get_lines()] == ["train_loss", "accuracy"]


def test_plot_losses_from_a_dict_with_title_log_scale_and_given_axes():
    _, ax = plt.subplots()
    returned = plot_losses({"train": [3.0, 2.0, 1.0], "val": ([10, 30], [2.5, 1.5])}, ax=ax,
                           title="Bigram", log_y=True)
    assert returned is ax
    train, val = ax.get_lines()
    assert list(train.get_xdata()) == [1, 2, 3]
    assert list(val.get_xdata()) == [10, 30]
    assert ax.get_title() == "Bigram" and ax.get_yscale() == "log"


def test_plot_losses_refuses_bad_input():
    with pytest.raises(TypeError):
        plot_losses([1.0, 2.0])
    with pytest.raises(ValueError, match="length"):
        plot_losses({"val": ([1, 2, 3], [1.0, 2.0])})


def test_heatmap_labels_colorbar_and_annotations():
    weights = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5]])
    ax = heatmap(weights, row_labels=["le", "chat"], col_labels=["the", "cat", "sat"],
                 title="Attention", annotate=True, xlabel="source", ylabel="target")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["le", "chat"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["the", "cat", "sat"]
    assert ax.get_xlabel() == "source" and ax.get_ylabel() == "target"
    assert ax.get_title() == "Attention"
    assert np.allclose(ax.get_images()[0].get_array(), weights.numpy())
    assert [t.get_text() for t in ax.texts] == ["0.90", "0.10", "0.00", "0.20", "0.30", "0.50"]
    assert len(ax.figure.axes) == 2  # the heatmap and its colorbar


def test_heatmap_refuses_bad_shapes_and_labels():
    with pytest.raises(ValueError, match="2-D"):
        heatmap(np.zeros(3))
    with pytest.raises(ValueError, match="row_labels has 1 labels for 2 rows"):
        heatmap(np.zeros((2, 2)), row_labels=["a"])


def test_bar_chart_keeps_the_order_and_writes_the_values():
    ax = bar_chart({"bigram": 12.345, "LSTM": 6.5}, title="Perplexity", xlabel="perplexity")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["bigram", "LSTM"]
    assert [t.get_text() for t in ax.texts] == ["12.35", "6.50"]
    assert ax.get_xlabel() == "perplexity"
    with pytest.raises(ValueError):
        bar_chart({})
