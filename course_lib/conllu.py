"""A small CoNLL-U reader: the Universal Dependencies file format, one token per line.

A sentence is a block of comment lines (``# sent_id = ...``, ``# text = ...``) and token lines
of ten tab-separated columns (ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC), ended by
an empty line. Two kinds of line are not words of the sentence and are skipped here:
multiword-token ranges (ID ``3-4``: "don't" spanning the words "do" and "n't") and empty
nodes (ID ``5.1``: an elided word of enhanced dependencies). Hugging Face's generic ``conll``
builder keeps them, which is why the course parses the files itself.
"""

from __future__ import annotations

import re
from pathlib import Path

_NUM_COLUMNS = 10
_WORD_LINE = re.compile(rb"\n\d+\t")  # a line starting "7\t", not "3-4\t" nor "5.1\t"
_BLOCK_SEPARATOR = re.compile(rb"\n(?:\r?\n)+")


def parse_conllu(text: str) -> list[dict[str, str | list[str]]]:
    """Sentences of a CoNLL-U document as dicts.

    Each has ``id`` (the ``sent_id`` comment, "" if absent), ``text`` (the ``text`` comment,
    "" if absent) and the per-word lists ``tokens`` (FORM), ``upos`` and ``xpos``.
    A token line without ten columns raises ``ValueError`` naming its line number.
    """
    sentences = []
    current = _new_sentence()
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line:
            if current["tokens"]:
                sentences.append(current)
            current = _new_sentence()
        elif line.startswith("#"):
            key, _, value = line[1:].partition("=")
            if key.strip() == "sent_id":
                current["id"] = value.strip()
            elif key.strip() == "text":
                current["text"] = value.strip()
        else:
            columns = line.split("\t")
            if len(columns) != _NUM_COLUMNS:
                raise ValueError(
                    f"CoNLL-U line {number} has {len(columns)} tab-separated columns, expected "
                    f"{_NUM_COLUMNS}: {line[:80]!r}"
                )
            if not columns[0].isdigit():  # "3-4" multiword range or "5.1" empty node
                continue
            current["tokens"].append(columns[1])
            current["upos"].append(columns[3])
            current["xpos"].append(columns[4])
    if current["tokens"]:  # a file whose last sentence has no closing empty line
        sentences.append(current)
    return sentences


def count_conllu(path: Path) -> tuple[int, int]:
    """(sentences, words) in a CoNLL-U file, counted the way ``parse_conllu`` reads them.

    Faster than parsing: a sentence is a block between empty lines with at least one word.
    """
    data = b"\n" + path.read_bytes()  # so that every line, the first too, follows a "\n"
    blocks = _BLOCK_SEPARATOR.split(data)
    sentences = sum(1 for block in blocks if _WORD_LINE.search(b"\n" + block))
    return sentences, len(_WORD_LINE.findall(data))


def _new_sentence() -> dict[str, str | list[str]]:
    return {"id": "", "text": "", "tokens": [], "upos": [], "xpos": []}
