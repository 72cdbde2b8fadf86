"""The full-mode recipes the chapters and benchmarks share.

Known answers: each recipe's model has the number of parameters its hyperparameters give by
hand; at initialisation it predicts what its initialisation says it should; it learns a
repeated batch; and ``train_char_lm`` plans and stops on a fake clock exactly as computed.
"""

import math
from dataclasses import FrozenInstanceError, replace
from functools import partial

import pytest
import torch

from course_lib import lm
from course_lib.data import make_collate, random_windows
from course_lib.lm import next_token_loss
from course_lib.models.seq2seq import AttentionSeq2Seq, Seq2Seq, seq2seq_loss
from course_lib.models.transformer import GPT, TransformerSeq2Seq
from course_lib.recipes import CHAR_LM_RECIPES, MULTI30K_RECIPES, char_lm_recipe, train_char_lm
from course_lib.training import TrainConfig, train

PAD, BOS, EOS = 0, 2, 3
SRC_VOCAB, TGT_VOCAB, CHARS = 30, 40, 65
TRANSLATION = {
    "seq2seq": (Seq2Seq, seq2seq_loss),
    "attention": (AttentionSeq2Seq, seq2seq_loss),
    "transformer": (TransformerSeq2Seq, partial(seq2seq_loss, label_smoothing=0.1)),
}


# ------------------------------------------------------------ parameter counts, by hand
def embedding(num, dim):
    return num * dim


def linear(fan_in, fan_out, bias=True):
    return fan_in * fan_out + (fan_out if bias else 0)


def layer_norm(dim, bias=True):
    return dim * (2 if bias else 1)


def gru(input_size, hidden):
    return 3 * hidden * (input_size + hidden) + 2 * 3 * hidden  # W_ih, W_hh, b_ih, b_hh


def attention_block(dim, bias=True):
    return linear(dim, 3 * dim, bias) + linear(dim, dim, bias)  # q, k, v in one; out


def feed_forward(dim, hidden, bias=True):
    return linear(dim, hidden, bias) + linear(hidden, dim, bias)


def seq2seq_parameters(embed_dim, hidden_size, **_):
    e, h = embed_dim, hidden_size
    encoder = embedding(SRC_VOCAB, e) + gru(e, h)
    decoder = embedding(TGT_VOCAB, e) + gru(e + h, h)  # the context enters every step
    return encoder + decoder + linear(e + 2 * h, TGT_VOCAB)  # output sees [y, s, context]


def attention_parameters(embed_dim, hidden_size, readout_size, **_):
    e, h, r = embed_dim, hidden_size, readout_size
    encoder = embedding(SRC_VOCAB, e) + 2 * gru(e, h)  # bidirectional: states of size 2h
    bridge = linear(2 * h, h)
    decoder = embedding(TGT_VOCAB, e) + gru(e + 2 * h, h)
    additive = linear(h, h, bias=False) + linear(2 * h, h) + linear(h, 1, bias=False)
    readout = linear(h + 2 * h + e, r) + linear(r, TGT_VOCAB)  # deep output
    return encoder + bridge + decoder + additive + readout


def transformer_parameters(embed_dim, num_layers, ff_dim, **_):
    d = embed_dim
    encoder_block = 2 * layer_norm(d) + attention_block(d) + feed_forward(d, ff_dim)
    decoder_block = 3 * layer_norm(d) + 2 * attention_block(d) + feed_forward(d, ff_dim)
    embeddings = embedding(SRC_VOCAB, d) + embedding(TGT_VOCAB, d)  # output tied to target
    return embeddings + num_layers * (encoder_block + decoder_block) + 2 * layer_norm(d)


def gpt_parameters(block_size, embed_dim, num_layers, **_):
    d = embed_dim
    block = 2 * layer_norm(d, bias=False) + attention_block(d, bias=False) + feed_forward(
        d, 4 * d, bias=False)
    embeddings = embedding(CHARS, d) + embedding(block_size, d)  # lm_head tied to tokens
    return embeddings + num_layers * block + layer_norm(d, bias=False)


# name: (hand formula, its value for the recipe as it is: a change of recipe is deliberate)
EXPECTED = {
    "seq2seq": (seq2seq_parameters, 3_221_032),
    "attention": (attention_parameters, 6_920_488),
    "transformer": (transformer_parameters, 3_972_608),
}


def count(model):
    return sum(p.numel() for p in model.parameters())


def translation_model(name, seed=0):
    model_class, _ = TRANSLATION[name]
    torch.manual_seed(seed)
    return model_class(SRC_VOCAB, TGT_VOCAB, pad_id=PAD, **MULTI30K_RECIPES[name].sizes)


def char_gpt(seed=0):
    torch.manual_seed(seed)
    return GPT(CHARS, dropout=0.0, bias=False, **CHAR_LM_RECIPES["gpt"].sizes)


@pytest.mark.parametrize("name", sorted(MULTI30K_RECIPES))
def test_translation_recipe_models_have_the_parameters_counted_by_hand(name):
    formula, value = EXPECTED[name]
    assert formula(**MULTI30K_RECIPES[name].sizes) == value
    assert count(translation_model(name)) == value


def test_char_gpt_recipe_model_has_the_parameters_counted_by_hand():
    assert gpt_parameters(**CHAR_LM_RECIPES["gpt"].sizes) == 2_410_496
    assert count(char_gpt()) == 2_410_496


# ------------------------------------------------------------- at initialisation
def random_translation_batch(seed=0, batch=8):
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(4, SRC_VOCAB, (batch, 12), generator=generator)
    tgt = torch.randint(4, TGT_VOCAB, (batch, 10), generator=generator)
    pairs = [(s + [EOS], [BOS] + t + [EOS]) for s, t in zip(src.tolist(), tgt.tolist(), strict=True)]
    return make_collate(PAD)(pairs)


@pytest.mark.parametrize("name", ["seq2seq", "attention"])
def test_gru_recipes_start_uniform(name):
    # PyTorch's default init of the output layer, U(+-1/sqrt(fan_in)), keeps every logit near 0:
    # on random targets the first loss is ln V.
    model = translation_model(name).eval()
    with torch.no_grad():
        loss = seq2seq_loss(model, random_translation_batch()).item()
    assert loss == pytest.approx(math.log(TGT_VOCAB), abs=0.1)


def test_transformer_recipe_starts_by_copying_its_input_token():
    # Tied weights: the target embedding (std D^-1/2, times sqrt(D) on the way in) is also the
    # output layer, so at initialisation the logit of the token just read is about sqrt(D) = 16
    # while the others are about N(0, 1): the model predicts its input, and its first loss on
    # random targets is far above ln V.
    model = translation_model("transformer").eval()
    batch = random_translation_batch()
    tgt_in = batch.tgt[:, :-1]
    with torch.no_grad():
        logits = model(batch.src, batch.src_lengths, tgt_in)  # (B, T, V)
        loss = seq2seq_loss(model, batch, label_smoothing=0.1).item()
    real = tgt_in != PAD
    assert torch.equal(logits.argmax(-1)[real], tgt_in[real])
    assert loss > math.log(TGT_VOCAB) + 5


def test_char_gpt_recipe_starts_near_uniform():
    # N(0, 0.02) weights: nearly uniform; the tied lm_head leans a little towards the input.
    ids = torch.randint(0, CHARS, (5000,), generator=torch.Generator().manual_seed(0))
    windows = random_windows(ids, CHAR_LM_RECIPES["gpt"].sizes["block_size"], 16,
                             generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        loss = next_token_loss(char_gpt().eval(), windows).item()
    assert math.log(CHARS) - 0.02 < loss < math.log(CHARS) + 0.15


# ------------------------------------------------------------------------- learning
@pytest.mark.parametrize("name, fraction", [("seq2seq", 0.5), ("attention", 0.5),
                                            ("transformer", 0.97)])  # 400 warm-up steps
def test_translation_recipe_learns_a_repeated_batch(name, fraction):
    _, loss_fn = TRANSLATION[name]
    model = translation_model(name)
    batch = make_collate(PAD)([([5, 6, 7, EOS], [BOS, 8, 9, EOS]),
                               ([5, 9, EOS], [BOS, 10, 11, 12, EOS])])
    config = TrainConfig(max_steps=10, progress=False, **MULTI30K_RECIPES[name].optimisation.kwargs())
    history = train(model, loss_fn, [batch], config)
    assert history.train_loss[-1] < fraction * history.train_loss[0]


# --------------------------------------------------------- a budget, on a fake clock
class StepClock:
    """time.perf_counter for course_lib.training: it moves only when a loss is computed,
    by ``seconds[i]`` for the i-th loss (the last value repeats)."""

    def __init__(self, seconds):
        self.now, self.seconds, self.losses = 1000.0, list(seconds), 0

    def __call__(self):
        return self.now

    def loss(self, model, batch):
        self.now += self.seconds[min(self.losses, len(self.seconds) - 1)]
        self.losses += 1
        return next_token_loss(model, batch)


@pytest.mark.parametrize("training_seconds, steps, seconds", [
    (1.0, 6, 6.0),  # as probed: the 6 s budget holds 6 steps of 1 s, and all are used
    (2.0, 3, 6.0),  # twice as slow as probed: re-planned to the 3 steps that fit in 6 s
])
def test_train_char_lm_plans_from_the_probe_and_stops_at_the_budget(
        monkeypatch, training_seconds, steps, seconds):
    probe = [1.0] * 9  # steps_within: one warm-up update, then 8 timed ones of 1 s each
    clock = StepClock(probe + [training_seconds])
    monkeypatch.setattr("course_lib.training.time.perf_counter", clock)
    monkeypatch.setattr(lm, "next_token_loss", clock.loss)
    recipe = replace(CHAR_LM_RECIPES["gpt"], batch_size=1)  # the clock, not the batch, sets time
    ids = torch.randint(0, CHARS, (2000,), generator=torch.Generator().manual_seed(0))
    model, history = train_char_lm(recipe, ids, CHARS, minutes=0.1)
    assert isinstance(model, GPT) and count(model) == 2_410_496
    assert history.steps == list(range(1, steps + 1))
    assert history.seconds == pytest.approx(seconds)


# ------------------------------------------------------------------------ the registry
def test_recipes_are_frozen_all_the_way_down():
    recipe = CHAR_LM_RECIPES["lstm"]
    with pytest.raises(FrozenInstanceError):
        recipe.minutes = 60
    with pytest.raises(TypeError):
        recipe.sizes["hidden_size"] = 1024  # a read-only mapping
    with pytest.raises(TypeError):
        MULTI30K_RECIPES["seq2seq"] = MULTI30K_RECIPES["attention"]


def test_quick_variants_change_only_their_own_settings():
    full, quick = char_lm_recipe("lstm"), char_lm_recipe("lstm", quick=True)
    assert quick.sizes["hidden_size"] == 128 and quick.minutes == pytest.approx(20 / 60)
    assert (quick.optimisation, quick.seq_len, quick.model) == (full.optimisation, full.seq_len, "lstm")
    gpt = char_lm_recipe("gpt", quick=True)
    assert (gpt.steps, gpt.minutes, gpt.sizes["block_size"]) == (300, None, 64)
    with pytest.raises(KeyError, match="known: cnn"):
        char_lm_recipe("transformer-xl")
    with pytest.raises(ValueError, match="exactly one of minutes and steps"):
        replace(full, steps=100)


@pytest.mark.parametrize("name", sorted(CHAR_LM_RECIPES))
def test_every_char_recipe_trains_two_steps(name):
    recipe = replace(char_lm_recipe(name, quick=True), minutes=None, steps=2, batch_size=2, seq_len=16)
    ids = torch.randint(0, CHARS, (500,), generator=torch.Generator().manual_seed(0))
    model, history = train_char_lm(recipe, ids, CHARS)
    assert history.steps == [1, 2] and all(math.isfinite(x) for x in history.train_loss)
    output = model(ids[None, :16])
    logits = output[0] if isinstance(output, tuple) else output
    assert logits.shape == (1, 16, CHARS)
