"""A play as dialogue data: Tiny Shakespeare's turns as (prompt, reply) pairs for a character GPT.

Chapter 10 fine-tunes its GPT to *reply*: each training sequence is one turn (the prompt) and
the next speaker's turn (the reply), and the loss counts the reply's characters only, which is
how instruction tuning trains chat models on (instruction, response) pairs. This module parses
the turns and lays the pairs out as fixed-length character windows whose non-reply targets
``metrics.scored_nats`` (and the training loss) skip.

In the text a turn is a block between blank lines whose first line is the speaker's name and a
colon, e.g. ``"ROMEO:\\nBut, soft! what light through yonder window breaks?"``. Two blocks make
a pair when both are turns, they follow each other, and their speakers differ.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import torch

from course_lib.text import Vocab

IGNORE_INDEX = -100  # F.cross_entropy's default ignore_index: targets that are not scored
_SPEAKER = re.compile(r"[A-Z][^\n:]{0,40}:")


@dataclass(frozen=True)
class Turn:
    """One speaker's turn: the name as the text writes it and the lines spoken."""

    speaker: str
    text: str

    def render(self) -> str:
        """The turn as it appears in the text, ending with a blank line: ``"NAME:\\nlines\\n\\n"``."""
        return f"{self.speaker}:\n{self.text}\n\n"


def parse_turn(block: str) -> Turn | None:
    """The turn a blank-line-separated block holds, or None when it is not one (no speaker line,
    or nothing spoken)."""
    lines = block.strip("\n").split("\n")
    if len(lines) < 2 or not _SPEAKER.fullmatch(lines[0]) or not lines[1].strip():
        return None
    return Turn(lines[0][:-1], "\n".join(lines[1:]))


def turn_pairs(text: str) -> list[tuple[Turn, Turn]]:
    """(prompt, reply) for every two consecutive turns of ``text`` by different speakers.

    A block that is not a turn (a stage direction, or a turn cut in two by a split point)
    breaks the chain, so no pair spans it.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    turns = [parse_turn(block) for block in text.split("\n\n")]
    return [(prompt, reply) for prompt, reply in pairwise(turns)
            if prompt is not None and reply is not None and prompt.speaker != reply.speaker]


def pair_text(prompt: Turn | None, reply: Turn, prompt_chars: int, reply_chars: int) -> tuple[str, str]:
    """(context, reply) strings of one example, at most ``prompt_chars`` and ``reply_chars`` long.

    The context is the rendered prompt with its speech cut from the left, so that the speaker's
    name line and the end of what was said (nearest to the reply) both fit; when even the name
    line does not fit, simply the last ``prompt_chars`` characters. With ``prompt=None`` it is
    ``"\n\n"`` alone: a turn with nothing before it. The reply is the first ``reply_chars``
    characters of the rendered reply.
    """
    if prompt is None:
        context = "\n\n"
    else:
        head, speech = f"{prompt.speaker}:\n", f"{prompt.text}\n\n"
        room = prompt_chars - len(head)
        context = head + speech[-room:] if room >= 2 else (head + speech)[-prompt_chars:]
    return context, reply.render()[:reply_chars]


SCORED_PARTS = ("reply", "speaker", "speech")


def pair_windows(pairs: Sequence[tuple[Turn | None, Turn]], vocab: Vocab, prompt_chars: int,
                 reply_chars: int, score: str = "reply") -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets (N, T), T = ``prompt_chars + reply_chars - 1``, for next-character
    training on the replies only.

    Each row is the context followed by the reply, shifted by one as in any language model;
    targets that predict a context character, and the padding after short rows, are
    ``IGNORE_INDEX``, so ``F.cross_entropy`` (and ``lm.next_token_loss``) score reply
    characters only. Padding inputs are the reply's last character repeated (never scored).
    ``score="speaker"`` scores only the reply's first line (the name, its colon and newline),
    ``score="speech"`` only what follows it: where a context helps, and where it does not.
    """
    if score not in SCORED_PARTS:
        raise ValueError(f"score must be one of {SCORED_PARTS}, got {score!r}")
    if prompt_chars < 2 or reply_chars < 1:
        raise ValueError(f"need prompt_chars >= 2 and reply_chars >= 1, got {prompt_chars} and "
                         f"{reply_chars}")
    if not pairs:
        raise ValueError("no pairs: give at least one (prompt, reply)")
    T = prompt_chars + reply_chars - 1
    x = torch.empty(len(pairs), T, dtype=torch.long)
    y = torch.full((len(pairs), T), IGNORE_INDEX, dtype=torch.long)
    for row, (prompt, reply) in enumerate(pairs):
        context, answer = pair_text(prompt, reply, prompt_chars, reply_chars)
        ids = torch.tensor(vocab.encode(list(context + answer)))
        n = len(ids) - 1
        x[row, :n] = ids[:-1]
        x[row, n:] = ids[-1]
        first, last = len(context), len(ids)  # the reply's characters: ids[first:last]
        name_end = first + len(reply.speaker) + 2  # after "NAME:\n"
        if score == "speaker":
            last = min(last, name_end)
        elif score == "speech":
            first = min(name_end, last)
        y[row, first - 1 : last - 1] = ids[first:last]  # position p predicts character p + 1
    return x, y


def shuffled_prompts(pairs: Sequence[tuple[Turn, Turn]], seed: int = 0) -> list[tuple[Turn, Turn]]:
    """The same replies, each after another pair's prompt (a random permutation without fixed
    points): the control for "does the reply depend on what was said, or only on the form?"."""
    if len(pairs) < 2:
        raise ValueError("need at least two pairs to shuffle their prompts")
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    derangement = order[1:] + order[:1]  # each position gets the next one's prompt in a cycle
    by_position = dict(zip(order, derangement, strict=True))
    return [(pairs[by_position[i]][0], reply) for i, (_, reply) in enumerate(pairs)]


def end_of_turn(text: str) -> str:
    """``text`` up to (without) its first blank line: where a generated reply's turn ends."""
    return text.split("\n\n", 1)[0]
