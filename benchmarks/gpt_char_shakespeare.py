"""The course GPT on character-level Tiny Shakespeare, at the reference CPU configuration.

4 layers, 4 heads, 128 dims, context 64, batch 12, dropout 0, no biases; AdamW (β2 0.99,
weight decay 0.1 on matrices only), lr 1e-3 with 100 warm-up steps and cosine decay to 1e-4
at step 2,000, gradient clipping at 1.0; the validation loss is the mean of 20 random
batches; the split is the first 90% of the characters / the rest (vocab 65).

Reference, measured on the course's 2-core CPU machine with the same settings: a well-known
minimal GPT (nanoGPT) reaches validation 1.886 nats/char after 2,000 steps at about
35 ms/step with 2 threads. Targets: validation <= 1.886 and <= 35 ms/step.

    COURSE_DATA_DIR=/work/shared/data python benchmarks/gpt_char_shakespeare.py --threads 2

Timings only mean something on an otherwise idle machine. ms/step counts training steps
only (forward, backward, clipping, optimizer), not the evaluations.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from course_lib.corpora import read_tinyshakespeare
from course_lib.data import random_windows
from course_lib.models.transformer import GPT
from course_lib.text import Vocab
from course_lib.training import TrainConfig, train

REFERENCE_VAL_LOSS = 1.886  # nanoGPT, same settings, step 2,000
REFERENCE_MS_PER_STEP = 35.0  # nanoGPT, 2 threads, this machine
BLOCK_SIZE, BATCH_SIZE, EVAL_BATCHES, EVAL_EVERY = 64, 12, 20, 250


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="training steps (default 2000)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--seed", type=int, default=1337, help="random seed (default 1337)")
    return parser.parse_args()


def char_ids() -> tuple[torch.Tensor, torch.Tensor, int]:
    """Train and validation id streams (90/10 by characters) and the vocabulary size."""
    text = read_tinyshakespeare()
    vocab = Vocab(sorted(set(text)), specials=())
    ids = torch.tensor(vocab.encode(list(text)), dtype=torch.long)
    cut = int(0.9 * len(ids))
    return ids[:cut], ids[cut:], len(vocab)


def lm_loss(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch  # (B, T), (B, T)
    return F.cross_entropy(model(x).flatten(0, 1), y.flatten())


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    train_ids, val_ids, vocab_size = char_ids()
    print(f"torch {torch.__version__} | {torch.get_num_threads()} threads | vocab {vocab_size} | "
          f"train {len(train_ids):,} / validation {len(val_ids):,} chars")

    torch.manual_seed(args.seed)
    model = GPT(vocab_size, BLOCK_SIZE, embed_dim=128, num_heads=4, num_layers=4, dropout=0.0,
                bias=False)
    print(f"GPT: {sum(p.numel() for p in model.parameters()):,} parameters")
    config = TrainConfig(
        max_steps=args.steps, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.99), warmup_steps=100,
        min_lr=1e-4, grad_clip=1.0, eval_every=EVAL_EVERY, seed=args.seed, progress=False,
    )
    # Training batches use the global generator, which train() seeds with config.seed.
    val_generator = torch.Generator().manual_seed(args.seed + 1)
    clock = {"since": time.perf_counter(), "step": 0, "train_seconds": 0.0}

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        interval = time.perf_counter() - clock["since"]  # training time since the last eval
        done = min(clock["step"] + EVAL_EVERY, args.steps)
        steps, clock["step"] = done - clock["step"], done
        clock["train_seconds"] += interval
        losses = [lm_loss(model, random_windows(val_ids, BLOCK_SIZE, BATCH_SIZE, val_generator))
                  for _ in range(EVAL_BATCHES)]
        val_loss = torch.stack(losses).mean().item()
        ms = 1000 * interval / steps
        print(f"step {done:5d} | val {val_loss:.3f} nats/char | {ms:5.1f} ms/step | "
              f"{BATCH_SIZE * BLOCK_SIZE * 1000 / ms:,.0f} tokens/s", flush=True)
        clock["since"] = time.perf_counter()
        return {"val_loss": val_loss}

    history = train(model, lm_loss, lambda: random_windows(train_ids, BLOCK_SIZE, BATCH_SIZE),
                    config, eval_fn=evaluate)
    ms = 1000 * clock["train_seconds"] / args.steps
    val_loss = history.last("val_loss")
    print(f"\nfinal: val {val_loss:.3f} nats/char after {args.steps} steps "
          f"(nanoGPT {REFERENCE_VAL_LOSS} after 2000) | {ms:.1f} ms/step "
          f"(nanoGPT ~{REFERENCE_MS_PER_STEP:.0f} at 2 threads) | total {history.seconds:.0f} s")


if __name__ == "__main__":
    main()
