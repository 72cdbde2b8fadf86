"""course_lib.dialogue: turns and pairs from a play, reply-only windows, reply scoring."""

import math

import pytest
import torch
from torch import nn

from course_lib import dialogue
from course_lib.dialogue import IGNORE_INDEX, Turn
from course_lib.lm import next_token_loss
from course_lib.metrics import scored_nats
from course_lib.text import Vocab

PLAY = (
    "First Citizen:\nHear me speak.\n\n"
    "All:\nSpeak, speak.\n\n"
    "All:\nResolved.\n\n"  # same speaker twice: no pair
    "First Citizen:\nYou know Caius.\nHe is chief enemy.\n\n"
    "Exeunt\n\n"  # not a turn: breaks the chain
    "MENENIUS:\nWhy, masters.\n\n"
    "SICINIUS:\nGo.\n"
)


def test_turn_pairs_follow_the_play():
    pairs = dialogue.turn_pairs(PLAY)
    assert [(p.speaker, r.speaker) for p, r in pairs] == [
        ("First Citizen", "All"), ("All", "First Citizen"), ("MENENIUS", "SICINIUS")]
    assert pairs[1][1].text == "You know Caius.\nHe is chief enemy."
    assert pairs[2][1].render() == "SICINIUS:\nGo.\n\n"


def test_a_block_is_a_turn_only_with_a_speaker_and_words():
    assert dialogue.parse_turn("ROMEO:\nO, she doth teach the torches.") == Turn(
        "ROMEO", "O, she doth teach the torches.")
    assert dialogue.parse_turn("ROMEO:") is None
    assert dialogue.parse_turn("ROMEO:\n") is None
    assert dialogue.parse_turn("a fragment of a speech\ncut by the split") is None
    with pytest.raises(TypeError, match="str"):
        dialogue.turn_pairs(["First Citizen:\nHear me."])


def test_pair_windows_score_the_reply_characters_only():
    vocab = Vocab(sorted(set("A:\nhi.B:yo\n")), specials=())
    pair = (Turn("A", "hi."), Turn("B", "yo"))
    x, y = dialogue.pair_windows([pair], vocab, prompt_chars=4, reply_chars=5)
    # context: the last 4 characters of "A:\nhi.\n\n" = "i.\n\n"; reply: "B:\nyo" (5 of "B:\nyo\n\n")
    ids = vocab.encode(list("i.\n\nB:\nyo"))
    assert x.shape == y.shape == (1, 8)
    assert x[0].tolist() == ids[:-1]
    assert y[0].tolist() == [IGNORE_INDEX] * 3 + ids[4:]  # "\n\n" before "B" predicts the "B"
    short = dialogue.pair_windows([(None, Turn("B", "yo"))], vocab, prompt_chars=4, reply_chars=5)
    assert short[1][0].tolist() == [IGNORE_INDEX] + vocab.encode(list("B:\nyo")) + [IGNORE_INDEX] * 2


def test_pair_windows_refuse_what_cannot_be_laid_out():
    vocab = Vocab(list("ab"), specials=())
    with pytest.raises(ValueError, match="prompt_chars >= 2"):
        dialogue.pair_windows([(None, Turn("A", "b"))], vocab, prompt_chars=1, reply_chars=4)
    with pytest.raises(ValueError, match="no pairs"):
        dialogue.pair_windows([], vocab, prompt_chars=4, reply_chars=4)


class Uniform(nn.Module):
    """Equal logits for every character: log V nats on every scored position."""

    def __init__(self, vocab_size):
        super().__init__()
        self.vocab_size = vocab_size
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.zeros(*x.shape, self.vocab_size) + 0 * self.unused


def test_reply_nats_is_the_mean_over_scored_characters():
    pairs = dialogue.turn_pairs(PLAY)
    vocab = Vocab(sorted(set(PLAY)), specials=())
    x, y = dialogue.pair_windows(pairs, vocab, prompt_chars=8, reply_chars=12)
    model = Uniform(len(vocab))
    assert scored_nats(model, x, y, batch_size=2) == pytest.approx(math.log(len(vocab)))
    assert next_token_loss(model, (x, y)).item() == pytest.approx(math.log(len(vocab)))


def test_shuffled_prompts_move_every_prompt_and_keep_every_reply():
    pairs = [(Turn(f"P{i}", "say"), Turn(f"R{i}", "reply")) for i in range(7)]
    shuffled = dialogue.shuffled_prompts(pairs, seed=3)
    assert [r for _, r in shuffled] == [r for _, r in pairs]
    assert all(new[0] != old[0] for new, old in zip(shuffled, pairs, strict=True))
    assert sorted(p.speaker for p, _ in shuffled) == sorted(p.speaker for p, _ in pairs)
    with pytest.raises(ValueError, match="two pairs"):
        dialogue.shuffled_prompts(pairs[:1])


def test_end_of_turn_stops_at_the_first_blank_line():
    assert dialogue.end_of_turn("ROMEO:\nAy me.\n\nJULIET:\nO Romeo") == "ROMEO:\nAy me."
    assert dialogue.end_of_turn("no end yet") == "no end yet"


def test_pair_windows_can_score_the_speaker_line_or_the_speech():
    vocab = Vocab(sorted(set("A:\nhi.B:yo\n")), specials=())
    pair = (Turn("A", "hi."), Turn("B", "yo"))
    _, every = dialogue.pair_windows([pair], vocab, 4, 7)
    _, speaker = dialogue.pair_windows([pair], vocab, 4, 7, score="speaker")
    _, speech = dialogue.pair_windows([pair], vocab, 4, 7, score="speech")
    scored = every != IGNORE_INDEX
    assert vocab.decode(every[scored].tolist()) == list("B:\nyo\n\n")
    assert vocab.decode(speaker[speaker != IGNORE_INDEX].tolist()) == list("B:\n")
    assert vocab.decode(speech[speech != IGNORE_INDEX].tolist()) == list("yo\n\n")
    with pytest.raises(ValueError, match="score must be one of"):
        dialogue.pair_windows([pair], vocab, 4, 7, score="name")


def test_the_context_keeps_the_speaker_line_and_the_end_of_the_speech():
    prompt, reply = Turn("ROMEO", "It is my lady, O, it is my love!"), Turn("JULIET", "Ay me!")
    assert dialogue.pair_text(prompt, reply, 16, 9) == ("ROMEO:\ny love!\n\n", "JULIET:\nA")
    assert dialogue.pair_text(prompt, reply, 5, 99) == ("ve!\n\n", reply.render())
    assert dialogue.pair_text(None, reply, 16, 9) == ("\n\n", "JULIET:\nA")
