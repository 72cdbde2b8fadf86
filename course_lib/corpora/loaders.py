"""Each corpus read into Hugging Face ``datasets`` splits (in memory: no hub, works offline)."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from course_lib.conllu import parse_conllu
from course_lib.corpora.catalogue import COARSEWSD20_WORDS, CorpusError
from course_lib.corpora.fetching import path

if TYPE_CHECKING:
    from datasets import DatasetDict


def _split_lines(text: str) -> list[str]:
    """Lines split on "\\n" only; a final newline does not make an extra empty line."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_tinyshakespeare() -> str:
    """The whole Tiny Shakespeare text (1,115,394 characters)."""
    return path("tinyshakespeare", "input.txt").read_text(encoding="utf-8")


def load_tinyshakespeare() -> DatasetDict:
    """Splits ``train``/``validation``, one row {"text"} each: the first 90% of the characters
    and the rest (nanoGPT's split: 1,003,854 / 111,540)."""
    from datasets import Dataset, DatasetDict

    text = read_tinyshakespeare()
    cut = int(0.9 * len(text))
    return DatasetDict({"train": Dataset.from_dict({"text": [text[:cut]]}),
                        "validation": Dataset.from_dict({"text": [text[cut:]]})})


def read_names() -> list[str]:
    """All 32,033 names, in file order (the file has no final newline; none is lost)."""
    names = _split_lines(path("names", "names.txt").read_text(encoding="utf-8"))
    if not all(names):
        raise CorpusError(f"names.txt has an empty line at line {names.index('') + 1}.")
    return names


def load_names(seed: int = 42) -> DatasetDict:
    """Splits ``train``/``validation``/``test`` of {"name"}, 80/10/10 after shuffling a copy
    of the names with ``random.Random(seed).shuffle`` (makemore's cut points:
    ``int(0.8 * n)`` and ``int(0.9 * n)``, giving 25,626 / 3,203 / 3,204)."""
    from datasets import Dataset, DatasetDict

    names = read_names()
    random.Random(seed).shuffle(names)
    first, second = int(0.8 * len(names)), int(0.9 * len(names))
    parts = {"train": names[:first], "validation": names[first:second], "test": names[second:]}
    return DatasetDict({split: Dataset.from_dict({"name": rows}) for split, rows in parts.items()})


_MULTI30K_SPLITS = {"train": ("train", 29_000), "validation": ("val", 1_014),
                    "test": ("test_2016_flickr", 1_000)}
_MULTI30K_LANGUAGES = ("de", "en", "fr", "cs")


def load_multi30k() -> DatasetDict:
    """Splits ``train``/``validation``/``test`` (2016 Flickr test set) with one column per
    language, ``de``, ``en``, ``fr``, ``cs``: row i of each is a translation of the others.
    Raises ``CorpusError`` if the files are not aligned (29,000 / 1,014 / 1,000 lines)."""
    from datasets import Dataset, DatasetDict

    splits = {}
    for split, (stem, expected) in _MULTI30K_SPLITS.items():
        columns = {}
        for language in _MULTI30K_LANGUAGES:
            local = path("multi30k", f"{stem}.{language}.gz")
            columns[language] = _split_lines(gzip.decompress(local.read_bytes()).decode("utf-8"))
        counts = {language: len(lines) for language, lines in columns.items()}
        if set(counts.values()) != {expected}:
            raise CorpusError(f"Multi30k {stem} files are not aligned: line counts {counts}, "
                              f"expected {expected:,} in every language.")
        splits[split] = Dataset.from_dict(columns)
    return DatasetDict(splits)


def load_ud_english_ewt() -> DatasetDict:
    """Splits ``train``/``validation``/``test`` of sentences {"id", "text", "tokens", "upos",
    "xpos"}: 12,544 / 2,001 / 2,077 sentences, 204,577 / 25,147 / 25,094 words
    (multiword-token ranges and empty nodes skipped, see ``course_lib.conllu``)."""
    from datasets import Dataset, DatasetDict

    files = {"train": "en_ewt-ud-train.conllu", "validation": "en_ewt-ud-dev.conllu",
             "test": "en_ewt-ud-test.conllu"}
    return DatasetDict({
        split: Dataset.from_list(parse_conllu(path("ud_english_ewt", name).read_text("utf-8")))
        for split, name in files.items()
    })


def _read_reviews(local: Path) -> list[str]:
    """One sentence per line. The pinned copy is UTF-8; Pang & Lee's original release is
    latin-1, so a line that is not valid UTF-8 is decoded as latin-1 (never fails, never drops
    a line). Decoding line by line keeps one odd byte from changing the rest of the file."""
    lines = local.read_bytes().split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [_decode_line(line).strip() for line in lines]


def _decode_line(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def load_mr(seed: int = 42, num_folds: int = 10) -> DatasetDict:
    """One split ``train`` of {"text", "label" (1 positive, 0 negative), "fold"}: positives
    first, then negatives, in file order. There is no held-out split; the usual protocol is
    10-fold cross-validation. Folds are stratified: each label's sentences are shuffled with
    ``random.Random(seed)`` and dealt round-robin, so every fold has 533 or 534 of each."""
    from datasets import Dataset, DatasetDict

    rng = random.Random(seed)
    texts, labels, folds = [], [], []
    for label, filename in ((1, "rt-polarity.pos"), (0, "rt-polarity.neg")):
        sentences = _read_reviews(path("mr", filename))
        order = list(range(len(sentences)))
        rng.shuffle(order)
        fold_of = [0] * len(sentences)
        for rank, index in enumerate(order):
            fold_of[index] = rank % num_folds
        texts += sentences
        labels += [label] * len(sentences)
        folds += fold_of
    rows = {"text": texts, "label": labels, "fold": folds}
    return DatasetDict({"train": Dataset.from_dict(rows)})


def read_coarsewsd20_senses() -> dict[str, list[str]]:
    """Each word's sense names, indexed by sense number (``bank``: ``["bank_bank",
    "bank_bank_(geography)"]``), from the words' ``classes_map.txt``."""
    senses = {}
    for word in COARSEWSD20_WORDS:
        local = path("coarsewsd20", f"coarsewsd20/{word}/classes_map.txt")
        mapping = json.loads(local.read_text("utf-8"))
        senses[word] = [mapping[str(number)] for number in range(len(mapping))]
    return senses


def load_coarsewsd20() -> DatasetDict:
    """Splits ``train``/``test`` of {"word", "tokens", "position", "label", "sense"}, the 20
    words one after the other (``COARSEWSD20_WORDS`` order), each in file order: 23,370 /
    10,196 sentences. ``tokens`` are the dataset's lower-cased tokens, ``tokens[position]``
    the ambiguous word, ``label`` its sense number and ``sense`` that sense's name. Raises
    ``CorpusError`` when a data file and its gold file disagree in length or a position is
    outside its sentence."""
    from datasets import Dataset, DatasetDict

    senses = read_coarsewsd20_senses()
    splits = {}
    for split in ("train", "test"):
        rows: dict[str, list] = {"word": [], "tokens": [], "position": [], "label": [], "sense": []}
        for word in COARSEWSD20_WORDS:
            data, gold = (_split_lines(path("coarsewsd20", f"coarsewsd20/{word}/{split}.{kind}.txt")
                                       .read_text("utf-8")) for kind in ("data", "gold"))
            if len(data) != len(gold):
                raise CorpusError(f"CoarseWSD-20 {word}/{split}: {len(data):,} sentences but "
                                  f"{len(gold):,} gold labels.")
            for number, (line, label) in enumerate(zip(data, gold, strict=True), start=1):
                position, sentence = line.split("\t", 1)
                tokens = sentence.split()  # any whitespace: two lines have double spaces
                if not 0 <= int(position) < len(tokens):
                    raise CorpusError(f"CoarseWSD-20 {word}/{split}.data.txt line {number}: "
                                      f"position {position} outside its {len(tokens)} tokens.")
                rows["word"].append(word)
                rows["tokens"].append(tokens)
                rows["position"].append(int(position))
                rows["label"].append(int(label))
                rows["sense"].append(senses[word][int(label)])
        splits[split] = Dataset.from_dict(rows)
    return DatasetDict(splits)


def _load_aeslc() -> DatasetDict:
    from course_lib.summarisation import load_aeslc  # its parser lives with the task's code

    return load_aeslc()


_LOADERS: dict[str, Callable[[], DatasetDict]] = {
    "tinyshakespeare": load_tinyshakespeare, "names": load_names, "multi30k": load_multi30k,
    "ud_english_ewt": load_ud_english_ewt, "mr": load_mr, "coarsewsd20": load_coarsewsd20,
    "aeslc": _load_aeslc,
}


def load(name: str) -> DatasetDict:
    """``load_<name>()`` for a name of ``CORPORA``."""
    if name not in _LOADERS:
        raise ValueError(f"Unknown corpus {name!r}. Known corpora: {', '.join(_LOADERS)}.")
    return _LOADERS[name]()
