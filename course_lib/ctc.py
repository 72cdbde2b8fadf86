"""Reading CTC outputs: greedy and prefix-beam decoding, and error rates by edit distance.

A CTC model emits, at each of T frames, a distribution over C classes, class ``blank`` meaning
"no new label here". A path (one class per frame) maps to a label sequence by merging repeated
classes and then dropping blanks: ``collapse([1, 1, 0, 1, 2, 2]) == [1, 1, 2]``. The probability
of a label sequence is the sum over every path that collapses to it; ``torch.nn.CTCLoss`` is
its negative log. Chapter 12 writes each function inline first and checks it against these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import torch


def collapse(path: Sequence[int], blank: int = 0) -> list[int]:
    """Merge runs of the same class, then drop blanks."""
    labels, previous = [], None
    for label in path:
        if label != previous and label != blank:
            labels.append(int(label))
        previous = label
    return labels


def greedy_decode(log_probs: torch.Tensor, blank: int = 0) -> list[int]:
    """The labels of the single most probable path: the best class at each frame, collapsed.
    ``log_probs``: (T, C)."""
    return collapse(log_probs.argmax(dim=-1).tolist(), blank)


def prefix_beam_search(log_probs: torch.Tensor, beam_width: int = 8, blank: int = 0
                       ) -> list[tuple[tuple[int, ...], float]]:
    """The ``beam_width`` most probable label sequences with their log probabilities, best first.

    Each kept prefix carries two numbers: the log probability of the paths so far that end in a
    blank, and of those that end in its last label. A repeated label only extends a prefix from
    paths that end in a blank (otherwise it merges into the last label). Unlike greedy decoding,
    it sums over paths, so several weak paths to one sequence can beat one strong path.
    ``log_probs``: (T, C). With ``beam_width`` at least the number of prefixes, it is exact.
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
    scores = log_probs.double().tolist()  # plain floats: fast for short sequences
    beams = {(): (0.0, -math.inf)}  # prefix -> (log P ending in blank, log P ending in label)
    for frame in scores:
        next_beams: dict[tuple[int, ...], list[float]] = {}
        add = partial(_add_paths, next_beams)
        for prefix, (ends_blank, ends_label) in beams.items():
            total = _logaddexp(ends_blank, ends_label)
            add(prefix, in_blank=total + frame[blank])  # a blank: the prefix stays
            for label, score in enumerate(frame):
                if label == blank:
                    continue
                if prefix and prefix[-1] == label:
                    add(prefix, in_label=ends_label + score)  # a repeat merges into it...
                    if ends_blank > -math.inf:  # ...unless the paths end in a blank
                        add(prefix + (label,), in_label=ends_blank + score)
                else:
                    add(prefix + (label,), in_label=total + score)
        ranked = sorted(next_beams.items(), key=lambda item: -_logaddexp(*item[1]))
        beams = {prefix: tuple(pair) for prefix, pair in ranked[:beam_width]}
    return [(prefix, _logaddexp(*pair)) for prefix, pair in beams.items()]


def beam_decode(log_probs: torch.Tensor, beam_width: int = 8, blank: int = 0) -> list[int]:
    """The labels of ``prefix_beam_search``'s best sequence. ``log_probs``: (T, C)."""
    return list(prefix_beam_search(log_probs, beam_width, blank)[0][0])


def _add_paths(beams: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...],
               in_blank: float = -math.inf, in_label: float = -math.inf) -> None:
    """Add the probabilities of more paths (ending in a blank / in a label) to ``prefix``."""
    old = beams.setdefault(prefix, [-math.inf, -math.inf])
    old[0], old[1] = _logaddexp(old[0], in_blank), _logaddexp(old[1], in_label)


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high = max(a, b)
    return high + math.log1p(math.exp(-abs(a - b)))


def edit_distance(reference: Sequence, hypothesis: Sequence) -> int:
    """The fewest insertions, deletions and substitutions that turn ``hypothesis`` into
    ``reference`` (Levenshtein), by dynamic programming over one row at a time."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_item in enumerate(reference, start=1):
        current = [i]
        for j, hyp_item in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1,  # reference item deleted
                               current[j - 1] + 1,  # hypothesis item inserted
                               previous[j - 1] + (ref_item != hyp_item)))  # match or substitute
        previous = current
    return previous[-1]


def error_rate(references: Sequence[Sequence], hypotheses: Sequence[Sequence]) -> float:
    """Total edit distance over total reference length (word/digit error rate); may exceed 1."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses.")
    length = sum(len(reference) for reference in references)
    if length == 0:
        raise ValueError("The references are all empty: the error rate is undefined.")
    edits = sum(edit_distance(r, h) for r, h in zip(references, hypotheses, strict=True))
    return edits / length
