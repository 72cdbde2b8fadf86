"""Static against contextual embeddings on CoarseWSD-20 (issue 19, chapter 11).

Everything is trained on the 23,370 training sentences only, on this machine's CPU: skip-gram
vectors (chapter 03, at most 3 minutes), a bidirectional LSTM language model (two 2-layer
LSTMs, ELMo's recipe) and a bidirectional GPT (two 4-block GPTs of chapter 09 that read the
skip-gram vectors, frozen, as their token embeddings), each language
model within ``--minutes`` (default 10) of wall-clock training (``course_lib.wsd``, the same
code chapter 11 calls). Senses are then read off frozen vectors, one classifier per word, as the dataset's
authors do (the nearest sense centroid by cosine similarity) and by a logistic-regression
probe; each word's test sentences are scored by accuracy and macro-F1, and the means over the
20 words are the figures (the authors' averages).

Baselines: the most frequent sense; the static vector of the word itself (the same vector in
every sentence: any classifier then gives one answer per word, at best the most frequent
sense); the mean static vector of the ±k words around it (k = 2, 5, 10, 20, 40; ±40 takes
in the whole sentence for 91% of the training sentences). The best static
figure is the best of these on the test split, and the best contextual one the best of both
language models with every layer concatenated, on the test split too: both sides are chosen
the same way. The layer-by-layer table shows where the sense is best read.

Reference (the authors' released results, mean over the 20 words): BERT-base nearest centroid
macro-F1 0.910 (accuracy 0.957), BERT-large 0.932, fastText classifier on pretrained
crawl-300d vectors 0.868, fastText trained on the data alone (100-d) 0.785; on bank, BERT-base
0.975 and fastText-100d 0.759. Targets: the best contextual model reaches macro-F1 >= 0.80 and
at least 5 points above the best static baseline, each model trained in <= 10 minutes on this
CPU; aim >= 0.868.

    COURSE_DATA_DIR=/work/shared/data python benchmarks/contextual_wsd.py [--threads 1]

``--quick`` runs the same pipeline with tiny models and budgets (a smoke test, about 2 minutes).
A full run appends the best static system's and both language models' means to the results
record (``course_lib.results``) as chapter 11's rows.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from course_lib import corpora, results, wsd
from course_lib.device import seed_everything
from course_lib.recipes import QUICK_WSD_LM_RECIPES, WSD_LM_RECIPES

RADII = (2, 5, 10, 20, 40)


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def evaluate(data, train_x, test_x) -> dict[str, dict]:
    return {c: wsd.score_words(data, train_x, test_x, c) for c in wsd.CLASSIFIERS}


DATA = "CoarseWSD-20 test, mean of the 20 words"


def record(systems: dict, best_static: tuple[str, str], trained: dict, layer_rows: list, minutes: float) -> None:
    """Chapter 11's rows of the results record: the best static system (its classifier) and
    each language model with every layer (both classifiers), macro-F1 and accuracy."""
    where = {"chapter": "11", "settings": {"benchmark": "benchmarks/contextual_wsd.py",
                                           "threads": torch.get_num_threads()}}
    system, classifier = best_static
    rows = [(f"skip-gram 100-d, {system.removeprefix('static, ').replace('+-', '±')}", {classifier: systems[system][classifier]},
             None, "")]
    for kind, history in trained.items():
        best_layer, best_f1 = max(((layer, f1["probe"]) for k, layer, f1 in layer_rows if k == kind),
                                  key=lambda pair: pair[1])
        rows.append((f"bi-{kind.upper()}, every layer at the target", systems[f"bi-{kind.upper()}, all layers"],
                     history.seconds, f"{history.steps[-1]:,} steps, budget {minutes:g} min; best single "
                     f"layer {best_layer}: {best_f1:.3f} (probe)"))
    for model, by_classifier, seconds, note in rows:
        for name, scores in by_classifier.items():
            mean = wsd.mean_scores(scores)
            for metric, label in (("macro_f1", "macro-F1"), ("accuracy", "accuracy")):
                results.record(model, DATA, "test", f"{label}, {name}", mean[metric],
                               train_seconds=seconds, note=note, **where)
    print(f"recorded in {results.record_path()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per LM")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="tiny models and budgets (smoke test)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    minutes = 0.2 if args.quick else args.minutes
    recipes = QUICK_WSD_LM_RECIPES if args.quick else WSD_LM_RECIPES
    seed_everything(0)
    start = time.perf_counter()
    data = wsd.prepare(corpora.load_coarsewsd20(), corpora.read_coarsewsd20_senses())
    stream = wsd.sentence_stream(data.train.ids, data.vocab.eos_id)
    print(f"torch {torch.__version__} | {torch.get_num_threads()} threads | vocabulary "
          f"{len(data.vocab):,} | train {len(data.train.ids):,} / test {len(data.test.ids):,} "
          f"sentences | stream {len(stream):,} tokens | {load()}", flush=True)

    systems: dict[str, dict] = {}  # name -> {classifier: {word: scores}}
    mfs = wsd.most_frequent_sense(data)
    vectors, history = wsd.train_skipgram(data.train.ids, data.vocab, steps=300 if args.quick else 20_000,
                                          minutes=None if args.quick else 3.0)
    print(f"skip-gram 100-d: {history.steps[-1]:,} steps in {history.seconds:.0f} s, loss "
          f"{history.train_loss[0]:.3f} -> {sum(history.train_loss[-100:]) / 100:.3f}", flush=True)
    systems["static, the word itself"] = evaluate(data, *wsd.static_features(vectors, data, None))
    for radius in RADII:
        systems[f"static, mean of +-{radius} words"] = evaluate(
            data, *wsd.static_features(vectors, data, radius))

    layer_rows, contextual, trained = [], [], {}
    for kind in ("lstm", "gpt"):
        model, history = wsd.train_bidirectional_lm(
            kind, stream, len(data.vocab), minutes, recipe=recipes[kind],
            static_vectors=vectors if recipes[kind].static_inputs else None)
        trained[kind] = history
        test_stream = wsd.sentence_stream(data.test.ids, data.vocab.eos_id)
        nats = wsd.held_out_nats(model, test_stream, recipes[kind].block_size)
        passes = history.steps[-1] * recipes[kind].batch_size * recipes[kind].block_size / len(stream)
        print(f"bidirectional {kind.upper()}: {sum(p.numel() for p in model.parameters()):,} "
              f"parameters | {history.steps[-1]:,} steps ({passes:.1f} passes) in "
              f"{history.seconds / 60:.1f} min | loss on test sentences {nats:.3f} nats/token "
              f"(unigram {wsd.unigram_loss_floor(stream, len(data.vocab)):.3f}) | {load()}", flush=True)
        train_x, test_x = wsd.contextual_features(model, data)  # (N, L + 1, D)
        for layer in range(train_x.shape[1]):
            scores = evaluate(data, train_x[:, layer], test_x[:, layer])
            layer_rows.append((kind, layer, {c: wsd.mean_scores(s)["macro_f1"] for c, s in scores.items()}))
        name = f"bi-{kind.upper()}, all layers"
        systems[name] = evaluate(data, train_x.flatten(1), test_x.flatten(1))
        contextual.append(name)

    print("\nlayer by layer (mean macro-F1 over the 20 words; layer 0 = the embedding):")
    for kind, layer, f1 in layer_rows:
        print(f"  {kind.upper():>4} layer {layer}: centroid {f1['centroid']:.3f} | probe {f1['probe']:.3f}")

    print("\nper word, macro-F1 (accuracy) on the test split:")
    best_static = max(((n, c) for n in systems if n.startswith("static") for c in wsd.CLASSIFIERS),
                      key=lambda nc: wsd.mean_scores(systems[nc[0]][nc[1]])["macro_f1"])
    best_context = max(((n, c) for n in contextual for c in wsd.CLASSIFIERS),
                       key=lambda nc: wsd.mean_scores(systems[nc[0]][nc[1]])["macro_f1"])
    shown = [("MFS", mfs), (f"static: {best_static[0]} ({best_static[1]})", systems[best_static[0]][best_static[1]])]
    shown += [(f"{n} ({c})", systems[n][c]) for n in contextual for c in wsd.CLASSIFIERS]
    print(f"  {'word':>8} {'test':>5}  " + " | ".join(f"[{i}]" for i in range(len(shown))))
    for word in data.senses:
        cells = [f"{s[word]['macro_f1']:.3f} ({s[word]['accuracy']:.3f})" for _, s in shown]
        print(f"  {word:>8} {len(data.test.rows_of(word)):>5}  " + " | ".join(cells))
    for i, (name, _) in enumerate(shown):
        print(f"  [{i}] {name}")

    print("\nmean over the 20 words, macro-F1 / accuracy:")
    print(f"  {'most frequent sense':<44} {wsd.mean_scores(mfs)['macro_f1']:.3f} / {wsd.mean_scores(mfs)['accuracy']:.3f}")
    for name, by_classifier in systems.items():
        for classifier, scores in by_classifier.items():
            mean = wsd.mean_scores(scores)
            print(f"  {name + ', ' + classifier:<44} {mean['macro_f1']:.3f} / {mean['accuracy']:.3f}")
    print("  published: " + ", ".join(f"{k} {v:.3f}" for k, v in wsd.PUBLISHED_MACRO_F1.items()))

    static_f1 = wsd.mean_scores(systems[best_static[0]][best_static[1]])["macro_f1"]
    context_f1 = wsd.mean_scores(systems[best_context[0]][best_context[1]])["macro_f1"]
    bank = systems[best_context[0]][best_context[1]]["bank"]["macro_f1"]
    longest = max(h.seconds for h in trained.values()) / 60
    verdicts = [
        f"best contextual ({best_context[0]}, {best_context[1]}) macro-F1 {context_f1:.3f} "
        f"{'>=' if context_f1 >= 0.80 else '<'} 0.80: {'met' if context_f1 >= 0.80 else 'NOT met'}",
        f"{100 * (context_f1 - static_f1):+.1f} points over the best static ({best_static[0]}, "
        f"{best_static[1]}: {static_f1:.3f}), >= 5: {'met' if context_f1 - static_f1 >= 0.05 else 'NOT met'}",
        f"longest LM training {longest:.1f} min <= 10: {'met' if longest <= 10.05 else 'NOT met'}",
        f"aim 0.868: {'reached' if context_f1 >= 0.868 else 'not reached'}",
        f"bank {bank:.3f} (" + ", ".join(f"{k} {v:.3f}" for k, v in wsd.PUBLISHED_BANK_MACRO_F1.items()) + ")",
    ]
    print("\ntargets: " + " | ".join(verdicts))
    print(f"total {(time.perf_counter() - start) / 60:.1f} min | {load()}")
    if not args.quick:
        record(systems, best_static, trained, layer_rows, minutes)


if __name__ == "__main__":
    main()
