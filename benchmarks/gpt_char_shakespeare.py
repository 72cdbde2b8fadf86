"""The course GPT on character-level Tiny Shakespeare, at the reference CPU configuration.

4 layers, 4 heads, 128 dims, context 64, batch 12, dropout 0, no biases; AdamW (β2 0.99,
weight decay 0.1 on matrices only), lr 1e-3 with 100 warm-up steps and cosine decay to 1e-4
at step 2,000, gradient clipping at 1.0; the validation loss is the mean of 20 random
batches; the split is the first 90% of the characters / the rest (vocab 65).

Reference, measured on the course's 2-core CPU machine with the same settings: a well-known
minimal GPT (nanoGPT) reaches validation 1.886 nats/char after 2,000 steps at about
35 ms/step with 2 threads. Targets: validation <= 1.886 (read at its own precision, three
decimals; the script prints four) and <= 35 ms/step.

    COURSE_DATA_DIR=/work/shared/data python benchmarks/gpt_char_shakespeare.py --threads 2

Milliseconds per step depend on the machine (on this VM it has drifted by up to 50% between
sessions), so the script also trains a minimal GPT written from scratch below (``MinimalGPT``:
nanoGPT's structure, fused qkv projection, ``F.scaled_dot_product_attention(is_causal=True)``,
fused AdamW, float32 like nanoGPT on a CPU) in the same process, on the same batches and with
the same schedule: after every 250 of our steps (at each evaluation) it takes its 250 steps on
those batches. Alternating in blocks keeps both runs on the same machine load without
evicting each other's caches every step (stepping the two models in turn cost each ~10
ms/step). The ratio of the two is the figure to read; the script also prints it scaled to
nanoGPT's 35 ms. The two validation losses (on the same 20 batches) compare the models, not
the luck of the data.

The batches are nanoGPT's own. It seeds the global generator with 1337, initialises its model
and then draws every batch from that generator; ``MinimalGPT`` is built in nanoGPT's order and
initialised call for call as nanoGPT does, under the same seed, so the draws that follow
(``nanogpt_batches``) are the ones nanoGPT made: both models train on nanoGPT's training
batches and are validated on its 20 validation batches. That makes the target a like-for-like
comparison, and the reference checks it: it lands on nanoGPT's 1.886 within a few thousandths
(float rounding and a fused optimizer let two runs drift apart that far). Any other
``--seed`` draws other batches. A 20-batch estimate has a standard error of about 0.013, so at
the end both models are also scored on the whole validation split: cut into consecutive
windows of 64 (every context length equally often, as in the random batches: the value the
20-batch estimate estimates, without its noise), and by ``course_lib.metrics.window_nats`` (every
character once with at least 32 characters of context: the chapters' metric).

The course GPT trains as the chapters train it (``TrainConfig(cpu_amp=True)``): bfloat16
matrix products where the CPU has them natively, float32 weights and optimizer; attention in
bfloat16 takes PyTorch's math kernel (``fused_attention``; ``benchmarks/attention_kernels.py``).
Our ms/step counts everything ``training.train`` does per step (taking the batch, forward,
backward, clipping, the optimizer, its bookkeeping) and no evaluation; the reference's counts
its forward, backward, clipping and optimizer step. Step 1 (warm-up) is not timed. Use
``--no-reference`` to train the course GPT alone (the reference is still built, to draw
nanoGPT's batches, but not trained).

``--recipe`` trains chapter 09's full-mode GPT instead (``course_lib.recipes.CHAR_LM_RECIPES["gpt"]``)
for ``--minutes`` (default 10) as the chapter does, and prints its validation nats/char on the
whole split (``course_lib.metrics.window_nats``) next to chapter 01's best n-gram model (modified
Kneser-Ney, order 7, fitted here in seconds). Target (issue 9): beat it within 10 minutes on this
CPU. Both modes append their whole-split figures to the results record (``course_lib.results``).

    COURSE_DATA_DIR=/work/shared/data python benchmarks/gpt_char_shakespeare.py --recipe
"""

from __future__ import annotations

import argparse
import math
import os
import time

import torch
import torch.nn.functional as F
from torch import nn

from course_lib import results
from course_lib.corpora import read_tinyshakespeare
from course_lib.data import random_windows
from course_lib.device import cpu_has_native_bf16
from course_lib.lm import char_stream, next_token_loss
from course_lib.metrics import window_nats
from course_lib.models.transformer import GPT
from course_lib.ngram import NgramLM
from course_lib.recipes import CHAR_LM_RECIPES, train_char_lm
from course_lib.training import History, TrainConfig, evaluate_loss, lr_at, train

REFERENCE_VAL_LOSS = 1.886  # nanoGPT, same settings, step 2,000
REFERENCE_MS_PER_STEP = 35.0  # nanoGPT, 2 threads, this machine
BLOCK_SIZE, BATCH_SIZE, EVAL_BATCHES, EVAL_EVERY = 64, 12, 20, 250
EMBED_DIM, NUM_HEADS, NUM_LAYERS = 128, 4, 4


class MinimalBlock(nn.Module):
    """Pre-norm block, no biases: x + proj(causal attention(norm(x))), x + MLP(norm(x))."""

    def __init__(self, embed_dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.norm1 = nn.LayerNorm(embed_dim, bias=False)
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=False)
        self.proj = nn.Linear(embed_dim, embed_dim, bias=False)
        self.norm2 = nn.LayerNorm(embed_dim, bias=False)
        self.fc = nn.Linear(embed_dim, 4 * embed_dim, bias=False)
        self.fc_out = nn.Linear(4 * embed_dim, embed_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        heads = self.qkv(self.norm1(x)).view(B, T, 3, self.num_heads, D // self.num_heads)
        q, k, v = heads.permute(2, 0, 3, 1, 4)  # 3 x (B, heads, T, Dh)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, heads, T, Dh)
        x = x + self.proj(attended.transpose(1, 2).reshape(B, T, D))
        return x + self.fc_out(F.gelu(self.fc(self.norm2(x))))  # (B, T, D)


def normal_init(module: nn.Module) -> None:
    """GPT-2's N(0, 0.02) for the weight of a linear or embedding layer; other layers are left be."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)


class MinimalGPT(nn.Module):
    """The reference: token + position embeddings, blocks, final norm, tied output layer.

    Initialised like GPT-2: N(0, 0.02), the residual projections 0.02 / √(2 · layers).
    """

    def __init__(self, vocab_size: int, block_size: int, embed_dim: int, num_heads: int,
                 num_layers: int):
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, embed_dim)
        self.positions = nn.Embedding(block_size, embed_dim)
        self.blocks = nn.ModuleList(MinimalBlock(embed_dim, num_heads) for _ in range(num_layers))
        self.norm = nn.LayerNorm(embed_dim, bias=False)
        self.head = nn.Linear(embed_dim, vocab_size, bias=False)
        self.head.weight = self.tokens.weight
        # nanoGPT's initialisation, call for call: the layers above draw their default
        # initialisations in nanoGPT's order, then every linear and embedding layer is redrawn
        # from N(0, 0.02) in the order apply() visits them (the tied matrix twice), then the
        # residual projections again. The same calls on the same shapes leave the global
        # generator where nanoGPT's leaves it, so the batches drawn next are nanoGPT's.
        self.apply(normal_init)
        for name, param in self.named_parameters():
            if name.endswith(("proj.weight", "fc_out.weight")):
                nn.init.normal_(param, std=0.02 / math.sqrt(2 * num_layers))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T, V)
        positions = torch.arange(tokens.shape[1], device=tokens.device)  # (T,)
        x = self.tokens(tokens) + self.positions(positions)  # (B, T, D)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


class ReferenceRun:
    """Trains a ``MinimalGPT`` one step at a time (fused AdamW, clipping) and times its steps."""

    def __init__(self, vocab_size: int, config: TrainConfig):
        self.model = MinimalGPT(vocab_size, BLOCK_SIZE, EMBED_DIM, NUM_HEADS, NUM_LAYERS)
        params = list(self.model.parameters())
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        self.optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, fused=True)
        self.config, self.step_count = config, 0

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
        """One training step on ``batch``; returns its wall time in seconds."""
        start = time.perf_counter()
        self.step_count += 1
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.step_count, self.config)
        loss = next_token_loss(self.model, batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        loss.item()
        return time.perf_counter() - start


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="training steps (default 2000)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--seed", type=int, default=1337, help="random seed (default 1337, nanoGPT's: its batches)")
    parser.add_argument("--no-reference", action="store_true",
                        help="train only the course GPT (no same-process reference, no ratio)")
    parser.add_argument("--recipe", action="store_true",
                        help="train chapter 09's full-mode GPT for --minutes instead")
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="with --recipe: the training budget (default 10)")
    args = parser.parse_args()
    if args.minutes <= 0:
        parser.error("--minutes must be > 0")
    if args.steps < 2:
        parser.error("--steps must be >= 2 (step 1 warms up and is not timed)")
    return args


def char_ids() -> tuple[torch.Tensor, torch.Tensor, int]:
    """Train and validation id streams (90/10 by characters) and the vocabulary size."""
    train_ids, val_ids, vocab = char_stream()
    return train_ids, val_ids, len(vocab)


def nanogpt_batches(train_ids: torch.Tensor, val_ids: torch.Tensor, steps: int
                    ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], dict[int, list]]:
    """The batches nanoGPT's ``train.py`` draws in a run of ``steps`` updates, in its order.

    nanoGPT seeds the global generator with 1337, builds and initialises its model, then draws
    every batch from that generator: the batch of update 0; before update k (from 0) when k is
    a multiple of 250, its estimate of the losses (20 training batches, then 20 validation
    batches); during update k, the batch of update k + 1. Called right after ``MinimalGPT`` is
    built under the same seed, this replays those draws (plus one estimate after the last
    update when ``steps`` is not a multiple of 250). Returns the training batch of every update
    and, keyed by the number of updates before it, the 20 validation batches of every estimate.
    """
    train_batches, val_batches = [random_windows(train_ids, BLOCK_SIZE, BATCH_SIZE)], {}
    for done in range(steps + 1):
        if done % EVAL_EVERY == 0 or done == steps:
            for _ in range(EVAL_BATCHES):  # nanoGPT's training-loss estimate: drawn, not used here
                random_windows(train_ids, BLOCK_SIZE, BATCH_SIZE)
            val_batches[done] = [random_windows(val_ids, BLOCK_SIZE, BATCH_SIZE)
                                 for _ in range(EVAL_BATCHES)]
        train_batches.append(random_windows(train_ids, BLOCK_SIZE, BATCH_SIZE))
    return train_batches[:steps], val_batches


def mean_and_error(losses: list[torch.Tensor]) -> tuple[float, float]:
    """Mean of the batch losses and its standard error (how much 20 batches can mislead)."""
    values = torch.stack(losses)
    return values.mean().item(), (values.std() / math.sqrt(len(values))).item()


def every_window_loss(model: torch.nn.Module, ids: torch.Tensor) -> float:
    """Mean next-token loss over ``ids`` cut into consecutive windows of ``BLOCK_SIZE``.

    Every context length from 1 to ``BLOCK_SIZE`` counts equally often, as in random windows, so
    this is the figure the 20-batch estimate estimates, without its sampling noise.
    """
    rows = (len(ids) - 1) // BLOCK_SIZE
    x = ids[: rows * BLOCK_SIZE].view(rows, BLOCK_SIZE)  # (rows, T)
    y = ids[1 : rows * BLOCK_SIZE + 1].view(rows, BLOCK_SIZE)  # (rows, T)
    return evaluate_loss(model, next_token_loss, [(x, y)])  # one batch: every window weighs the same


def mean_ms(step_seconds: list[float]) -> float:
    return 1000 * sum(step_seconds) / len(step_seconds)


def load() -> str:
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


def recipe_run(args: argparse.Namespace, train_ids: torch.Tensor, val_ids: torch.Tensor,
               vocab_size: int) -> None:
    """Chapter 09's full-mode GPT, trained for ``args.minutes`` as the chapter trains it."""
    recipe = CHAR_LM_RECIPES["gpt"]
    print(f"recipe {dict(recipe.sizes)}, batch {recipe.batch_size} | bfloat16 on the CPU: "
          f"{recipe.optimisation.cpu_amp and cpu_has_native_bf16()}", flush=True)
    model, history = train_char_lm(recipe, train_ids, vocab_size, seed=args.seed, minutes=args.minutes)
    val = window_nats(model, val_ids, recipe.sizes["block_size"])
    text = read_tinyshakespeare()  # chapter 01's best character model, on the same split
    cut = len(train_ids)
    kneser_ney = NgramLM(7, "modified_kneser_ney", pad=False, unk=None).fit([text[:cut]]).cross_entropy([text[cut:]])
    results.record("GPT, 3 x 256, chapter-09 recipe, 10-min budget", "Tiny Shakespeare chars", "validation",
                   "nats/char", val, chapter="benchmarks/gpt_char_shakespeare.py --recipe",
                   parameters=sum(p.numel() for p in model.parameters()), train_seconds=history.seconds,
                   note=f"{history.steps[-1]:,} steps")
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters | trained {history.steps[-1]:,} "
          f"steps in {history.seconds / 60:.2f} min "
          f"({1000 * history.seconds / history.steps[-1]:.0f} ms/step; plans {history.plan}) | validation {val:.4f} nats/char "
          f"on the whole split | modified Kneser-Ney, order 7 (ch. 01) {kneser_ney:.4f} | "
          f"{'beats' if val < kneser_ney else 'does not beat'} it | {load()}")


def final_report(history: History, model: GPT, reference: ReferenceRun | None, seconds: dict[str, list[float]],
                 val_ids: torch.Tensor, steps: int) -> None:
    """Final losses and speeds of both runs, whole-split scores and the verdict on the targets."""
    ms = mean_ms(seconds["ours"])
    print(f"\nfinal, course GPT: val {history.last('val_loss'):.4f} ± {history.last('val_error'):.3f} "
          f"nats/char after {steps} steps (nanoGPT {REFERENCE_VAL_LOSS} after 2000) | "
          f"{ms:.1f} ms/step over steps 2-{steps} (nanoGPT ~{REFERENCE_MS_PER_STEP:.0f} at "
          f"2 threads)")
    if reference is not None:
        ref_ms = mean_ms(seconds["reference"])
        print(f"same process, same batches, reference MinimalGPT (float32): val "
              f"{history.last('ref_val_loss'):.4f} | {ref_ms:.1f} ms/step | ratio course GPT / "
              f"reference {ms / ref_ms:.3f} | at nanoGPT's {REFERENCE_MS_PER_STEP:.0f} ms/step that is "
              f"{REFERENCE_MS_PER_STEP * ms / ref_ms:.1f} ms/step for the course GPT")
    scores = {"course GPT": model} | ({} if reference is None else {"reference": reference.model})
    every_window = {name: every_window_loss(m, val_ids) for name, m in scores.items()}
    print("whole validation split, every window of 64 once (what the 20 batches estimate): " + ", ".join(
        f"{name} {loss:.4f}" for name, loss in every_window.items()) + " nats/char")
    whole = {name: window_nats(m, val_ids, BLOCK_SIZE) for name, m in scores.items()}
    print("whole validation split, every character once with >= 32 of context (window_nats, the "
          "chapters' metric): " + ", ".join(f"{name} {loss:.4f}" for name, loss in whole.items()))
    note = (f"{steps:,} steps; {history.last('val_loss'):.4f} on nanoGPT's 20 validation batches "
            f"(nanoGPT {REFERENCE_VAL_LOSS}); {ms:.1f} ms/step (torch threads: {torch.get_num_threads()})")
    if reference is not None:
        note += (f", {ms / ref_ms:.3f} x the same-process float32 reference "
                 f"({history.last('ref_val_loss'):.4f}, whole split {whole['reference']:.4f})")
    results.record(**results.BENCHMARK_GPT, value=whole["course GPT"],
                   parameters=sum(p.numel() for p in model.parameters()), note=note)
    val = history.last("val_loss")
    verdicts = [f"validation <= {REFERENCE_VAL_LOSS} on nanoGPT's 20 batches at step {steps}: {val:.4f} "
                f"{'met' if round(val, 3) <= REFERENCE_VAL_LOSS else 'NOT met'}"]
    if reference is not None:
        scaled = REFERENCE_MS_PER_STEP * ms / ref_ms
        verdicts.append(f"<= {REFERENCE_MS_PER_STEP:.0f} ms/step at the reference's speed: {scaled:.1f} "
                        f"{'met' if scaled <= REFERENCE_MS_PER_STEP else 'NOT met'}")
    print("targets: " + " | ".join(verdicts))


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    train_ids, val_ids, vocab_size = char_ids()
    print(f"torch {torch.__version__} | {torch.get_num_threads()} threads | vocab {vocab_size} | "
          f"train {len(train_ids):,} / validation {len(val_ids):,} chars | {load()}")
    if args.recipe:
        recipe_run(args, train_ids, val_ids, vocab_size)
        return

    config = TrainConfig(
        max_steps=args.steps, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.99), warmup_steps=100,
        min_lr=1e-4, grad_clip=1.0, eval_every=EVAL_EVERY, seed=args.seed, progress=False,
        cpu_amp=True,
    )
    torch.manual_seed(args.seed)
    reference = ReferenceRun(vocab_size, config)  # nanoGPT's initialisation, so next its batches:
    train_batches, val_batches = nanogpt_batches(train_ids, val_ids, args.steps)
    if args.no_reference:
        reference = None
    torch.manual_seed(args.seed)
    model = GPT(vocab_size, BLOCK_SIZE, EMBED_DIM, NUM_HEADS, NUM_LAYERS, dropout=0.0, bias=False)
    print(f"GPT: {sum(p.numel() for p in model.parameters()):,} parameters | bfloat16 matrix "
          f"products (cpu_amp, as the chapters train): {cpu_has_native_bf16()} | the reference: float32 "
          f"| batches: nanoGPT's (seed {args.seed})")
    seconds = {"ours": [], "reference": []}  # per timed step (steps 2, 3, ...)
    clock = {"mark": None, "reported": 0}  # end of the last timed work; steps already printed

    def after_step(model: torch.nn.Module) -> None:
        """train() calls this after each of our steps: close our step's time."""
        if clock["mark"] is not None:  # step 1 warms up and is not timed
            seconds["ours"].append(time.perf_counter() - clock["mark"])
        clock["mark"] = time.perf_counter()

    def catch_up_reference(steps_done: int) -> None:
        """The reference's steps on our batches since the last evaluation, timed one by one."""
        with torch.enable_grad():  # train() evaluates without gradients
            for batch in train_batches[reference.step_count : steps_done]:
                step_seconds = reference.step(batch)
                if reference.step_count > 1:
                    seconds["reference"].append(step_seconds)

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        seconds["ours"][-1] += time.perf_counter() - clock["mark"]  # train()'s bookkeeping
        steps_done = len(seconds["ours"]) + 1
        if reference is not None:
            catch_up_reference(steps_done)
        estimate = val_batches[steps_done]  # nanoGPT's 20 validation batches at this step
        val_loss, error = mean_and_error([next_token_loss(model, batch) for batch in estimate])
        ms = mean_ms(seconds["ours"][clock["reported"] :])
        line = (f"step {steps_done:5d} | val {val_loss:.3f} ± {error:.3f} | "
                f"{ms:5.1f} ms/step | {BATCH_SIZE * BLOCK_SIZE * 1000 / ms:6,.0f} tokens/s")
        metrics = {"val_loss": val_loss, "val_error": error}
        if reference is not None:
            reference.model.eval()
            metrics["ref_val_loss"], _ = mean_and_error([next_token_loss(reference.model, batch)
                                                         for batch in estimate])
            reference.model.train()
            ref_ms = mean_ms(seconds["reference"][clock["reported"] :])
            line += (f" || reference: val {metrics['ref_val_loss']:.3f} | {ref_ms:5.1f} ms/step | "
                     f"ratio {ms / ref_ms:.2f}")
        print(line, flush=True)
        clock["reported"] = len(seconds["ours"])
        clock["mark"] = time.perf_counter()
        return metrics

    history = train(model, next_token_loss, train_batches, config, eval_fn=evaluate, after_step=after_step)
    final_report(history, model, reference, seconds, val_ids, args.steps)
    print(f"total {history.seconds:.0f} s | {load()}")


if __name__ == "__main__":
    main()
