"""Kim's CNN-rand against TF-IDF logistic regression on MR, by 10-fold cross-validation (chapter 04).

Runs ``course_lib.crossval`` (the code chapter 04 checks against its own cells): for each fold,
the model is trained on the other nine folds' training part, selected on their validation part
and read once on the test fold. Prints every fold and the mean and standard deviation of both
models; compares with Kim (2014), CNN-rand on MR: 76.1%. With all ten folds it adds both means
to the results record under chapter 04's rows.

    COURSE_DATA_DIR=/work/shared/data python benchmarks/mr_cross_validation.py [--epochs 8]

Full run: 10 folds x 8 epochs, about 25 minutes on 2 CPU cores (``--models tfidf``: the
baseline alone, a minute or two). ``--quick``: fold 0, one epoch (a smoke test, not a result).
"""

from __future__ import annotations

import argparse
import statistics

from course_lib import crossval, results
from course_lib.corpora import load_mr
from course_lib.device import describe, get_device

KIM_CNN_RAND = 0.761
NAMES = {"cnn": "Kim CNN-rand", "tfidf": "TF-IDF logistic regression"}  # the README's rows


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, nargs="*", default=list(range(10)), help="test folds to run")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--models", nargs="+", choices=["cnn", "tfidf"], default=["cnn", "tfidf"])
    parser.add_argument("--quick", action="store_true", help="fold 0, one epoch: a smoke test")
    args = parser.parse_args(argv)
    folds, epochs = ([0], 1) if args.quick else (args.folds, args.epochs)

    device = get_device()
    data = crossval.LabelledSentences.from_split(load_mr()["train"])
    print(f"MR: {len(data.tokens):,} sentences; folds {folds}, {epochs} epochs; {describe(device)}")
    scores: dict[str, list[float]] = {name: [] for name in args.models}
    seconds = 0.0
    for fold in folds:
        parts = []
        if "cnn" in scores:
            kim = crossval.kim_cnn_fold(data, fold, epochs, device)
            scores["cnn"].append(kim["test_acc"])
            seconds += kim["seconds"]
            parts.append(f"CNN-rand {kim['test_acc']:.4f} (best validation {kim['dev_acc']:.4f}, {kim['seconds']:.0f} s)")
        if "tfidf" in scores:
            scores["tfidf"].append(crossval.tfidf_logistic_regression(data, fold)[0])
            parts.append(f"TF-IDF logistic regression {scores['tfidf'][-1]:.4f}")
        print(f"fold {fold}: " + " | ".join(parts))
    summary = {name: mean_std(values) for name, values in scores.items()}
    print("\n" + " | ".join(f"{NAMES[name]} {mean:.2%} ± {std:.2%}" for name, (mean, std) in summary.items())
          + f" over {len(folds)} fold(s) (Kim 2014, CNN-rand: {KIM_CNN_RAND:.1%}"
          + (f"; difference {summary['cnn'][0] - KIM_CNN_RAND:+.2%})" if "cnn" in summary else ")"))
    if sorted(folds) == list(range(10)) and not args.quick:
        for name, (mean, std) in summary.items():
            how = (f"{epochs} epochs, best by validation" if name == "cnn"
                   else "60 full-batch Adam steps, best by validation")
            results.record(NAMES[name], "MR, 10-fold CV", "test folds", "accuracy", mean, chapter="04",
                           train_seconds=seconds if name == "cnn" else None,
                           note=f"± {std:.2%} over 10 folds; {how}",
                           settings={"benchmark": "benchmarks/mr_cross_validation.py"})
        print(f"recorded in {results.record_path()}")


if __name__ == "__main__":
    main()
