"""Every full-mode recipe of the course in one typed registry, and training by recipe.

A recipe is what a chapter fixes before it trains: the model and its sizes, the batches, the
optimisation and the budget. Chapters, benchmarks, ``course train`` and the capstone (chapter
14) read them from here, so a figure printed by a benchmark is the chapter's figure. Recipes
are frozen: sizes are read-only mappings (``MappingProxyType``), so nobody edits a shared
recipe by accident; ``dataclasses.replace`` makes a variant (quick mode does, below).

- ``CHAR_LM_RECIPES``: the character language models of Tiny Shakespeare (chapters 04, 05, 06
  and 09); ``train_char_lm`` trains one.
- ``MULTI30K_RECIPES``: the translation models of chapters 07-09; ``train_multi30k``.
- ``WSD_LM_RECIPES``: chapter 11's bidirectional language models (``wsd.train_bidirectional_lm``).
- ``AESLC_RECIPES`` and ``AESLC_COPY_TAGGER``: chapter 13's encoder-decoders
  (``summarisation.train_aeslc``) and its extractive tagger (``extraction.train_copy_tagger``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from types import MappingProxyType
from typing import Any

import torch

# Saving by recipe lives with the other checkpoints; chapters import it from here, beside the recipes.
from course_lib.checkpoints import checkpoint_path as checkpoint_path
from course_lib.checkpoints import load_trained as load_trained
from course_lib.checkpoints import save_trained as save_trained
from course_lib.training import History, planned_config, train


def frozen(*base: Mapping[str, Any], **sizes: Any) -> Mapping[str, Any]:
    """Keyword arguments (over an optional ``base`` mapping) as a read-only mapping;
    ``**recipe.sizes`` still unpacks it."""
    return MappingProxyType(dict(*base, **sizes))


@dataclass(frozen=True)
class Optimisation:
    """The ``TrainConfig`` settings a recipe fixes; the run adds steps, budget and evaluation."""

    lr: float
    min_lr: float | None = None
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0
    grad_clip: float | None = 1.0
    cpu_amp: bool = False

    def kwargs(self) -> dict[str, Any]:
        """These settings as ``TrainConfig`` keyword arguments."""
        return asdict(self)


@dataclass(frozen=True)
class CharLMRecipe:
    """A character language model of Tiny Shakespeare (chapter 05's split, 65 characters).

    ``model`` is ``"cnn"`` (``CausalConvLM``), ``"rnn"``, ``"lstm"``, ``"gru"``
    (``RNNLanguageModel``) or ``"gpt"`` (``GPT`` with ``dropout=0, bias=False``), built with
    ``sizes``. Recurrent models train on contiguous batches with the state carried (truncated
    BPTT, chapter 05); the others on random windows. ``batch_size`` rows of ``seq_len``
    characters per step. ``minutes`` is a wall-clock budget (re-planned as it trains), else
    exactly ``steps`` steps. ``checkpoint``: the file name under ``cache_dir()/checkpoints``
    where the chapter saves the trained model in full mode.
    """

    name: str
    chapter: str
    model: str
    sizes: Mapping[str, Any]
    batch_size: int
    seq_len: int
    optimisation: Optimisation
    minutes: float | None = None
    steps: int | None = None
    checkpoint: str = ""
    quick: Mapping[str, Any] = field(default_factory=frozen)

    @property
    def recurrent(self) -> bool:
        return self.model in ("rnn", "lstm", "gru")

    def __post_init__(self):
        if self.model not in ("cnn", "rnn", "lstm", "gru", "gpt"):
            raise ValueError(f"unknown model {self.model!r}: cnn, rnn, lstm, gru or gpt")
        if (self.minutes is None) == (self.steps is None):
            raise ValueError(f"recipe {self.name!r} needs exactly one of minutes and steps")


@dataclass(frozen=True)
class TranslationRecipe:
    """An encoder-decoder of Multi30k de->en or of AESLC (``model``: seq2seq, attention,
    transformer; pointer and pointer-transformer add a copy gate) with its constructor
    ``sizes``, batches of ``batch_size`` sentence pairs, ``optimisation`` and a wall-clock
    budget of ``minutes``; ``quick`` the settings quick mode changes."""

    name: str
    chapter: str
    model: str
    sizes: Mapping[str, Any]
    optimisation: Optimisation
    minutes: float = 30.0
    batch_size: int = 128
    checkpoint: str = ""
    quick: Mapping[str, Any] = field(default_factory=frozen)


@dataclass(frozen=True)
class CopyTaggerRecipe:
    """Chapter 13's extractive model: a ``models.extractor.CopyTagger`` with ``sizes``, batches of
    ``batch_size`` emails, ``optimisation`` and a budget of ``minutes`` (trained by
    ``extraction.train_copy_tagger``; quick mode passes fewer steps and emails to it)."""

    name: str
    chapter: str
    sizes: Mapping[str, Any]
    optimisation: Optimisation
    minutes: float = 30.0
    batch_size: int = 32


@dataclass(frozen=True)
class BidirectionalLMRecipe:
    """Chapter 11's forward + backward language models of one ``kind`` (lstm or gpt):
    ``sizes`` of each direction, the adaptive softmax's ``cutoffs``, ``batch_size`` windows of
    ``block_size`` tokens per direction and step, ``optimisation``. ``static_inputs``: both
    models read frozen static vectors (``wsd.train_skipgram``'s) as their token embeddings,
    so ``sizes["embed_dim"]`` must be the vectors' size."""

    kind: str
    sizes: Mapping[str, Any]
    cutoffs: tuple[int, ...]
    block_size: int
    batch_size: int
    optimisation: Optimisation
    static_inputs: bool = False


# ---------------------------------------------------------------- character LMs (04-06, 09)
_RECURRENT_06 = Optimisation(lr=3e-3, min_lr=1e-4, warmup_steps=50, weight_decay=0.01, grad_clip=1.0)
_CHAPTER_06_QUICK = frozen(sizes=frozen(embed_dim=64, hidden_size=128, num_layers=2, dropout=0.0),
                           batch_size=32)
CHAR_LM_RECIPES: Mapping[str, CharLMRecipe] = MappingProxyType({recipe.name: recipe for recipe in (
    # Chapter 04: the deepest causal dilated CNN of its receptive-field sweep (64 characters).
    CharLMRecipe("cnn", "04", "cnn", frozen(embed_dim=32, hidden_size=64, num_layers=6, kernel_size=2),
                 batch_size=16, seq_len=128, steps=800,
                 optimisation=Optimisation(lr=3e-3, warmup_steps=50, min_lr=3e-4),
                 checkpoint="ch04_cnn_char.pt", quick=frozen(steps=200, sizes=frozen(
                     embed_dim=32, hidden_size=64, num_layers=3, kernel_size=2))),
    # Chapter 05: one tanh layer of 256, truncated BPTT on 64 x 64 characters, 3 minutes.
    CharLMRecipe("rnn-1x256", "05", "rnn", frozen(embed_dim=64, hidden_size=256, num_layers=1),
                 batch_size=64, seq_len=64, minutes=3.0,
                 optimisation=Optimisation(lr=2e-3, min_lr=2e-4, warmup_steps=20, weight_decay=0.01),
                 checkpoint="ch05_rnn_char.pt", quick=frozen(minutes=25 / 60)),
    # Chapter 06: 2 x 256 LSTM, GRU and tanh RNN, the same settings, budgets 4.5 / 1.67 / 0.83 min.
    CharLMRecipe("lstm", "06", "lstm", frozen(embed_dim=64, hidden_size=256, num_layers=2, dropout=0.0),
                 batch_size=64, seq_len=64, minutes=4.5, optimisation=_RECURRENT_06,
                 checkpoint="ch06_lstm_char.pt", quick=frozen(_CHAPTER_06_QUICK, minutes=20 / 60)),
    CharLMRecipe("gru", "06", "gru", frozen(embed_dim=64, hidden_size=256, num_layers=2, dropout=0.0),
                 batch_size=64, seq_len=64, minutes=100 / 60, optimisation=_RECURRENT_06,
                 checkpoint="ch06_gru_char.pt", quick=frozen(_CHAPTER_06_QUICK, minutes=8 / 60)),
    CharLMRecipe("rnn", "06", "rnn", frozen(embed_dim=64, hidden_size=256, num_layers=2, dropout=0.0),
                 batch_size=64, seq_len=64, minutes=50 / 60, optimisation=_RECURRENT_06,
                 checkpoint="ch06_rnn_char.pt", quick=frozen(_CHAPTER_06_QUICK, minutes=5 / 60)),
    # Chapter 09: sized for 10 minutes on the course's 2-core CPU with bfloat16 matrix products
    # (see the chapter); chapter 10 trains it too when chapter 09's checkpoint is missing.
    CharLMRecipe("gpt", "09", "gpt", frozen(block_size=128, embed_dim=256, num_heads=4, num_layers=3),
                 batch_size=16, seq_len=128, minutes=10.0,
                 optimisation=Optimisation(lr=2e-3, min_lr=2e-4, weight_decay=0.1, betas=(0.9, 0.99),
                                           warmup_steps=100, cpu_amp=True),
                 checkpoint="ch09_gpt_char.pt", quick=frozen(
                     steps=300, minutes=None, seq_len=64, sizes=frozen(
                         block_size=64, embed_dim=64, num_heads=4, num_layers=2),
                     optimisation=Optimisation(lr=2e-3, min_lr=2e-4, weight_decay=0.1,
                                               betas=(0.9, 0.99), warmup_steps=30))),
)})


def char_lm_recipe(name: str, quick: bool = False) -> CharLMRecipe:
    """``CHAR_LM_RECIPES[name]``, or with ``quick=True`` its quick-mode variant (the same
    recipe with the smaller settings of its ``quick`` field)."""
    if name not in CHAR_LM_RECIPES:
        raise KeyError(f"no character LM recipe {name!r}; known: {', '.join(CHAR_LM_RECIPES)}")
    recipe = CHAR_LM_RECIPES[name]
    return replace(recipe, quick=frozen(), **recipe.quick) if quick else recipe


def make_char_lm(recipe: CharLMRecipe, vocab_size: int) -> torch.nn.Module:
    """A fresh model of ``recipe`` for ``vocab_size`` characters."""
    from course_lib.models.cnn import CausalConvLM
    from course_lib.models.rnn import RNNLanguageModel
    from course_lib.models.transformer import GPT

    if recipe.model == "cnn":
        return CausalConvLM(vocab_size, **recipe.sizes)
    if recipe.model == "gpt":
        return GPT(vocab_size, dropout=0.0, bias=False, **recipe.sizes)
    return RNNLanguageModel(vocab_size, cell=recipe.model, **recipe.sizes)


def char_lm_batches(recipe: CharLMRecipe, train_ids: torch.Tensor, seed: int = 0):
    """``(batches, loss_fn)`` for ``train()``: a list of contiguous ``(x, y, first)`` batches
    and ``CarriedStateLoss`` for recurrent recipes; a function drawing random windows
    (its own generator, seeded) and ``next_token_loss`` for the others."""
    from course_lib.data import random_windows
    from course_lib.lm import CarriedStateLoss, contiguous_batches, next_token_loss

    if recipe.recurrent:
        batches = contiguous_batches(train_ids, recipe.batch_size, recipe.seq_len)
        return [(x, y, k == 0) for k, (x, y) in enumerate(batches)], CarriedStateLoss()
    generator = torch.Generator().manual_seed(seed)
    return (lambda: random_windows(train_ids, recipe.seq_len, recipe.batch_size, generator)), next_token_loss


def train_char_lm(recipe: CharLMRecipe, train_ids: torch.Tensor, vocab_size: int,
                  device: torch.device | str = "cpu", seed: int = 0, minutes: float | None = None,
                  eval_fn: Callable | None = None, eval_every: int | None = None,
                  ) -> tuple[torch.nn.Module, History]:
    """``recipe``'s model trained on ``train_ids``: for its budget (``minutes`` overrides it)
    or its fixed steps.

    A budgeted run plans as chapter 05 explains: eight timed steps make a first plan and
    ``TrainConfig(budget_minutes=...)`` re-plans as it trains, so the cosine decay ends with
    the budget; the warm-up is at most a tenth of the first plan. ``History.plan`` and the
    steps taken replay the run. ``eval_fn`` runs ``eval_every`` steps (default: 4 times).
    """
    from course_lib.device import seed_everything

    minutes = minutes if minutes is not None else recipe.minutes
    seed_everything(seed)
    model = make_char_lm(recipe, vocab_size).to(device)
    batches, loss_fn = char_lm_batches(recipe, train_ids, seed)
    source = batches if isinstance(batches, list) else iter(batches, None)
    config = planned_config(model, loss_fn, source, minutes=minutes,
                            steps=recipe.steps if minutes is None else None, seed=seed, progress=False,
                            evaluations=4 if eval_fn and not eval_every else None, eval_every=eval_every,
                            **recipe.optimisation.kwargs())
    return model, train(model, loss_fn, batches, config, eval_fn=eval_fn)


# ---------------------------------------------------------------- Multi30k (chapters 07-09)
# The RNN settings are the published GRU ones (embeddings 256, hidden 512, dropout 0.5; Cho et
# al.'s context fed to every step, Bahdanau et al.'s bidirectional encoder and deep output); the
# Transformer is a small base model (3 + 3 layers of 256 dimensions). ``cpu_amp=True``: bfloat16
# matrix products on CPUs that have them natively (1.4-1.6x more steps in the same budget on
# the course machines); a no-op on other CPUs.
MULTI30K_RECIPES: Mapping[str, TranslationRecipe] = MappingProxyType({recipe.name: recipe for recipe in (
    TranslationRecipe("seq2seq", "07", "seq2seq",
                      frozen(embed_dim=256, hidden_size=512, dropout=0.5, feed_context=True),
                      Optimisation(lr=1e-3, min_lr=1e-4, cpu_amp=True), checkpoint="ch07_seq2seq_multi30k.pt",
                      quick=frozen(sizes=frozen(embed_dim=64, hidden_size=128, dropout=0.1, feed_context=True))),
    TranslationRecipe("attention", "08", "attention",
                      frozen(embed_dim=256, hidden_size=512, bidirectional=True, dropout=0.5,
                             readout_size=256),
                      Optimisation(lr=1e-3, min_lr=1e-4, cpu_amp=True), checkpoint="ch08_attention_multi30k.pt",
                      quick=frozen(sizes=frozen(embed_dim=64, hidden_size=128, dropout=0.1, bidirectional=True))),
    TranslationRecipe("transformer", "09", "transformer",
                      frozen(embed_dim=256, num_heads=4, num_layers=3, ff_dim=512, dropout=0.1, max_len=128),
                      Optimisation(lr=7e-4, betas=(0.9, 0.98), weight_decay=0.01, warmup_steps=400,
                                   min_lr=3.5e-5, cpu_amp=True), checkpoint="ch09_transformer_multi30k.pt",
                      quick=frozen(sizes=frozen(embed_dim=64, num_heads=4, num_layers=2, ff_dim=128, dropout=0.1,
                                                max_len=128),
                                   optimisation=Optimisation(lr=1e-3, warmup_steps=12))),
)})


def translation_recipe(name: str, quick: bool = False) -> TranslationRecipe:
    """``MULTI30K_RECIPES[name]``, or with ``quick=True`` its quick-mode variant."""
    if name not in MULTI30K_RECIPES:
        raise KeyError(f"no Multi30k recipe {name!r}; known: {', '.join(MULTI30K_RECIPES)}")
    recipe = MULTI30K_RECIPES[name]
    return replace(recipe, quick=frozen(), **recipe.quick) if quick else recipe


def make_translation_model(recipe: TranslationRecipe, src_vocab_size: int, tgt_vocab_size: int,
                           pad_id: int) -> torch.nn.Module:
    """A fresh model of ``recipe``; ``(model, loss_fn)`` pairs are in ``translation_loss``."""
    from course_lib.models.pointer import PointerGeneratorSeq2Seq, PointerTransformerSeq2Seq
    from course_lib.models.seq2seq import AttentionSeq2Seq, Seq2Seq
    from course_lib.models.transformer import TransformerSeq2Seq

    classes = {"seq2seq": Seq2Seq, "attention": AttentionSeq2Seq, "transformer": TransformerSeq2Seq,
               "pointer": PointerGeneratorSeq2Seq, "pointer-transformer": PointerTransformerSeq2Seq}
    if recipe.model not in classes:
        raise ValueError(f"unknown model {recipe.model!r} in recipe {recipe.name!r}: use one of "
                         f"{', '.join(classes)}")
    return classes[recipe.model](src_vocab_size, tgt_vocab_size, pad_id=pad_id, **recipe.sizes)


def translation_loss(recipe: TranslationRecipe) -> Callable:
    """The training loss of ``recipe``'s model: ``seq2seq_loss``, with label smoothing 0.1 for
    the Transformers (Vaswani et al.; with or without a copy gate)."""
    from functools import partial

    from course_lib.models.seq2seq import seq2seq_loss

    smoothing = 0.1 if recipe.model in ("transformer", "pointer-transformer") else 0.0
    return partial(seq2seq_loss, label_smoothing=smoothing)


def train_multi30k(name: str, minutes: float | None = None, steps: int | None = None,
                   plan: Sequence[tuple[int, int]] = (), device=None, log=print, quick: bool = False,
                   data=None, validations: int = 10):
    """Train ``MULTI30K_RECIPES[name]`` (``quick``: its quick variant) on Multi30k de->en:
    ``(model, history, data)``; ``data`` is ``load_multi30k_translation("de", "en")``, loaded
    when not given. ``train_encoder_decoder`` does the training (its arguments)."""
    from course_lib.translation import load_multi30k_translation

    if name not in MULTI30K_RECIPES:
        raise ValueError(f"unknown recipe {name!r}: use one of {', '.join(MULTI30K_RECIPES)}")
    data = data if data is not None else load_multi30k_translation("de", "en")
    model, history = train_encoder_decoder(translation_recipe(name, quick), data, minutes, steps,
                                           plan, device, log, validations)
    return model, history, data


def train_encoder_decoder(recipe: TranslationRecipe, data, minutes: float | None = None,
                          steps: int | None = None, plan: Sequence[tuple[int, int]] = (), device=None,
                          log=print, validations: int = 10):
    """Train ``recipe`` on ``data`` (a ``translation.TranslationData`` of id pairs: Multi30k, or
    chapter 13's emails and subjects): ``(model, history)``.

    With a time budget (the recipe's unless ``minutes`` is given) ``steps_within`` makes a first
    plan and ``TrainConfig(budget_minutes=minutes)`` re-plans as training goes, as the chapters
    do; with ``steps`` (and a budgeted run's ``plan``) it trains exactly that run again,
    untimed. Batches of ``recipe.batch_size`` pairs of similar source length. Validation loss
    is measured ``validations`` times (as the run's first plan spaces them). Under
    ``torchrun`` every process takes its slice of each batch (``course_lib.distributed``).
    ``log`` gets one line about the plan.
    """
    from course_lib.data import make_loader
    from course_lib.device import cpu_has_native_bf16, get_device, seed_everything
    from course_lib.training import evaluate_loss

    if plan and not steps:
        raise ValueError("a plan replays a budgeted run: give its steps too")
    minutes = recipe.minutes if minutes is None else minutes
    device = device or get_device()
    pad_id, loss_fn = data.tgt_vocab.pad_id, translation_loss(recipe)
    loader = make_loader(data["train"], recipe.batch_size, pad_id=pad_id,
                         lengths=[len(s) for s, _ in data["train"]])
    val_loader = make_loader(data["validation"], max(recipe.batch_size, 128), pad_id=pad_id,
                             shuffle=False, lengths=[len(s) for s, _ in data["validation"]])
    seed_everything(0)
    model = make_translation_model(recipe, len(data.src_vocab), len(data.tgt_vocab), pad_id).to(device)
    budgeted = steps is None  # then time 16 steps of a copy to make the first plan
    config = planned_config(model, loss_fn, loader, minutes=minutes if budgeted else None, steps=steps,
                            probe=16, evaluations=validations, plan=tuple(map(tuple, plan)), progress=False,
                            **recipe.optimisation.kwargs())
    steps = config.max_steps
    plan_note = (f"{60 * minutes / steps:.2f} s/step now -> {steps} steps in {minutes:g} min (first plan); "
                 if budgeted else "")
    log(f"{recipe.name}: {sum(p.numel() for p in model.parameters()):,} parameters; {plan_note}"
        f"training {steps} steps = {steps / len(loader):.1f} epochs; "
        f"bfloat16 on the CPU: {recipe.optimisation.cpu_amp and cpu_has_native_bf16()}")
    history = train(model, loss_fn, loader, config,
                    eval_fn=lambda m: {"val_loss": evaluate_loss(m, loss_fn, val_loader)})
    return model, history


# ---------------------------------------------------------------- chapter 13 (summarisation)
# Chapter 13's encoder-decoders on AESLC (emails -> subject lines), shared with
# benchmarks/summarise_aeslc.py. Smaller than the Multi30k ones: 14k examples of up to 64 source
# subwords (the subject is mostly in the email's first lines; the lead baseline peaks at ~14
# words), 30 minutes on 2 CPU cores, batches of 32 emails: on a budget of a few epochs, more
# (smaller) updates learn faster than bigger ones. "pointer" and "pointer-transformer" are
# chapter 08's attention GRU and chapter 09's Transformer with a copy gate (models.pointer), each
# with its plain twin's sizes and optimiser. benchmarks/summarise_aeslc.py measured the gate on
# test before the chapter took it: +3.9 ROUGE-1 on the GRU (12.71 against 8.78, 25 min each at
# one thread), +1.6 on the Transformer (15.01 against 13.43, 30 min each, the two trained side by
# side at one thread each, 2026-12-06).
_AESLC_ATTENTION = TranslationRecipe(
    "attention", "13", "attention",
    frozen(embed_dim=256, hidden_size=256, bidirectional=True, dropout=0.3, readout_size=256),
    Optimisation(lr=2e-3, min_lr=1e-4, cpu_amp=True), batch_size=32, checkpoint="ch13_attention_aeslc.pt")
_AESLC_TRANSFORMER = TranslationRecipe(
    "transformer", "13", "transformer",
    frozen(embed_dim=256, num_heads=4, num_layers=3, ff_dim=512, dropout=0.1, max_len=128),
    Optimisation(lr=1e-3, betas=(0.9, 0.98), weight_decay=0.01, warmup_steps=400, min_lr=5e-5, cpu_amp=True),
    batch_size=32, checkpoint="ch13_transformer_aeslc.pt")
AESLC_RECIPES: Mapping[str, TranslationRecipe] = MappingProxyType({recipe.name: recipe for recipe in (
    _AESLC_ATTENTION,
    replace(_AESLC_ATTENTION, name="pointer", model="pointer", checkpoint="ch13_pointer_aeslc.pt"),
    _AESLC_TRANSFORMER,
    replace(_AESLC_TRANSFORMER, name="pointer-transformer", model="pointer-transformer",
            checkpoint="ch13_pointer_transformer_aeslc.pt"),
)})

# The extractive model: a 2 x 192 bidirectional LSTM tagger over the body's first 160 words (about
# 450 steps an epoch), the encoder-decoders' 30 minutes (the chapter gives every model 15).
# benchmarks/summarise_aeslc.py measured it before the chapter took it (2026-12-06, one thread
# beside other work, test ROUGE-1/2/L): 23.81 / 11.33 / 22.77 after 10 minutes (488 steps),
# 26.59 / 12.19 / 25.32 after 25 (1,459 steps). No bfloat16: the LSTM gains nothing from it on a CPU.
AESLC_COPY_TAGGER = CopyTaggerRecipe(
    "copy-tagger", "13", frozen(embed_dim=128, hidden_size=192, num_layers=2, cell="lstm", dropout=0.2),
    Optimisation(lr=2e-3, min_lr=2e-4, weight_decay=0.01), minutes=30.0, batch_size=32)


# ---------------------------------------------------------------- chapter 11 (word senses)
# Sizes for a 10-minute budget on the course's 2-core CPU shared with other work (bfloat16
# matrix products where the processor has them). One step (both directions) costs about 0.19 s
# of CPU for the LSTMs and 0.36 s for the GPTs on this machine; width 256 would cost 0.43 s and
# 0.84 s, too many for a few passes over the data when other jobs share the cores.
WSD_LM_RECIPES: Mapping[str, BidirectionalLMRecipe] = MappingProxyType({
    "lstm": BidirectionalLMRecipe("lstm", frozen(embed_dim=128, hidden_size=128, num_layers=2, tie_weights=True),
                                  cutoffs=(2000, 6000), block_size=64, batch_size=32,
                                  optimisation=Optimisation(lr=3e-3, min_lr=3e-4, warmup_steps=50,
                                                            weight_decay=0.01, cpu_amp=True)),
    # The GPT reads the 100-d skip-gram vectors, frozen: with its own embeddings it reached mean
    # macro-F1 0.715 (all layers, probe; 1,527 steps at one thread), with them 0.808 (1,469 steps
    # at one thread) and 0.799 (2,387 steps at two threads).
    "gpt": BidirectionalLMRecipe("gpt", frozen(block_size=64, embed_dim=100, num_heads=4, num_layers=4),
                                 cutoffs=(2000, 6000), block_size=64, batch_size=32,
                                 optimisation=Optimisation(lr=2e-3, min_lr=2e-4, warmup_steps=100,
                                                           weight_decay=0.1, betas=(0.9, 0.99), cpu_amp=True),
                                 static_inputs=True),
})
# Quick mode (tests): the same shapes, much smaller.
QUICK_WSD_LM_RECIPES: Mapping[str, BidirectionalLMRecipe] = MappingProxyType({
    "lstm": replace(WSD_LM_RECIPES["lstm"], batch_size=16, block_size=32,
                    sizes=frozen(embed_dim=64, hidden_size=64, num_layers=2, tie_weights=True)),
    "gpt": replace(WSD_LM_RECIPES["gpt"], batch_size=16, block_size=32,
                   sizes=frozen(block_size=32, embed_dim=100, num_heads=2, num_layers=2)),
})
