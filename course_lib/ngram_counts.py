"""Counting n-grams with arrays: the vocabulary, the padded token stream and the count tables.

``NgramCounts`` is the counting half of ``course_lib.ngram.NgramLM`` (which adds smoothing,
scoring and generation on top). Tokens become integer ids; each order's n-grams become
sorted int64 keys (``np.unique`` with counts) in ``smoothing.NgramTable``s, and every lookup
is a vectorised ``np.searchsorted`` over all queries at once. The input checks here turn odd
input (bytes, numbers, literal padding symbols) into errors that say what to do.
"""

from __future__ import annotations

import itertools
import numbers
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from course_lib import smoothing as sm
from course_lib.text import Vocab


class NgramCounts:
    """Vocabulary, padding and n-gram counts; reads the settings ``NgramLM.__init__`` stores
    (``order``, ``pad``, ``bos``, ``eos``, ``unk``, ``min_count``, ``nltk_compatible``).

    Fitted attributes: ``vocab_``, ``vocab_size_``, ``counts_`` (one ``NgramTable`` per order,
    index 0 the empty context) and ``context_starts_`` (per order, where each context's
    n-grams start in the sorted keys).
    """

    def _build_vocab(self, sequences: list[Sequence[str]]) -> None:
        texts = [s for s in sequences if isinstance(s, str)]
        counts = Counter(itertools.chain.from_iterable(s for s in sequences if not isinstance(s, str)))
        if texts:  # characters: count code points with numpy
            points, num = np.unique(_code_points("".join(texts)), return_counts=True)
            counts.update(dict(zip(map(chr, points.tolist()), num.tolist(), strict=True)))
        if self.pad and (self.bos in counts or self.eos in counts):
            refuse_padding_symbols(sequences, self.bos, self.eos, "fit")
        specials = [self.unk] if self.unk is not None else []
        specials = list(dict.fromkeys(specials + ([self.bos, self.eos] if self.pad else [])))
        kept = sorted(t for t, c in counts.items() if c >= self.min_count and t not in specials)
        self.vocab_ = Vocab(kept, specials=specials)
        self.vocab_size_ = len(self.vocab_)
        chars = [(ord(t), i) for i, t in enumerate(self.vocab_.itos) if len(t) == 1]
        self._char_table = np.array(sorted(chars), np.int64).reshape(-1, 2).T  # (2, C)

    def _encode(self, sequence: Sequence[str]) -> np.ndarray:
        """Token ids (tokens outside the vocabulary become unk, or raise without one)."""
        if not hasattr(self, "vocab_"):
            raise RuntimeError("This NgramLM is not fitted yet: call fit(sequences) first")
        unk_id = self.vocab_.stoi.get(self.unk, -1)
        if isinstance(sequence, str):  # one token per character, looked up with numpy
            points, (table_points, table_ids) = _code_points(sequence), self._char_table
            where = np.minimum(np.searchsorted(table_points, points), max(len(table_ids) - 1, 0))
            found = table_points[where] == points if len(table_ids) else np.zeros(len(points), bool)
            ids = np.where(found, table_ids[where] if len(table_ids) else -1, unk_id)
        else:
            stoi = self.vocab_.stoi
            ids = np.array(list(map(stoi.get, sequence, itertools.repeat(unk_id))), np.int64)
            ids = ids.reshape(len(sequence))
        if unk_id < 0 and (ids < 0).any():
            raise ValueError(
                f"token {sequence[int(np.argmax(ids < 0))]!r} is not in the vocabulary and the "
                "model has no unk token: fit with unk='<unk>' (and min_count=2 to train it)"
            )
        return ids.astype(np.int64)

    def _stream(self, sequences, training: bool):
        """The padded sequences end to end: (ids, room, is_target, lengths).

        ``room[i]`` is how many tokens are left in position i's sequence (i included), so a
        k-gram may start at i when ``room[i] >= k``; ``is_target`` marks predicted positions.
        """
        left = self.order - 1 if self.pad else 0
        right = (self.order - 1 if training and self.nltk_compatible else 1) if self.pad else 0
        sizes = np.array([len(s) for s in sequences], np.int64)
        if all(isinstance(s, str) for s in sequences):
            tokens = self._encode("".join(sequences))
        else:
            tokens = self._encode(list(itertools.chain.from_iterable(sequences)))
        lengths = sizes + left + right
        start = np.cumsum(lengths) - lengths  # where each padded sequence starts
        ids = np.empty(int(lengths.sum()), np.int64)
        is_target = np.ones(len(ids), bool)
        inside = np.arange(len(tokens)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        ids[np.repeat(start + left, sizes) + inside] = tokens
        if left:
            pads = (start[:, None] + np.arange(left)).ravel()
            ids[pads], is_target[pads] = self.vocab_.stoi[self.bos], False
        if right:
            ids[(start + left + sizes)[:, None] + np.arange(right)] = self.vocab_.stoi[self.eos]
        room = np.repeat(np.cumsum(lengths), lengths) - np.arange(len(ids))
        return ids, room, is_target, lengths

    def _count(self, sequences) -> None:
        ids, room, is_target, _ = self._stream(sequences, training=True)
        if self.nltk_compatible:
            is_target = np.ones_like(is_target)  # NLTK counts every everygram
        vocab_size = len(self.vocab_)
        tables = [sm.NgramTable(*(np.zeros(1, np.int64),) * 4)]
        tables[0].count[0] = is_target.sum()
        row = np.zeros(len(ids), np.int64)  # row of the k-gram starting at each position
        for k in range(1, self.order + 1):
            starts = np.flatnonzero(room >= k)
            keys = row[starts] * vocab_size + ids[starts + k - 1]
            unique, inverse, _ = np.unique(keys, return_inverse=True, return_counts=True)
            count = np.bincount(inverse, weights=is_target[starts + k - 1], minlength=len(unique))
            suffix = np.zeros(len(unique), np.int64)
            if k > 1:
                suffix[inverse] = row[starts + 1]
            tables.append(sm.NgramTable(unique, count.astype(np.int64), unique // vocab_size,
                                        suffix))
            row = np.full(len(ids), -1, np.int64)
            row[starts] = inverse
        self.counts_ = tables
        self.context_starts_ = [None] + [
            np.concatenate([[0], np.cumsum(np.bincount(t.prefix, minlength=len(tables[k - 1])))])
            for k, t in enumerate(tables) if k > 0
        ]

    def _find(self, k: int, rows: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Row of each k-gram (context row in the order k-1 table, token) or -1 if unseen."""
        keys = self.counts_[k].keys
        if len(keys) == 0:  # no k-gram counted (e.g. a held-out split shorter than k)
            return np.full(np.broadcast(rows, tokens).shape, -1, np.int64)
        wanted = rows * len(self.vocab_) + tokens
        where = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        found = (rows >= 0) & (tokens >= 0) & (keys[where] == wanted)
        return np.where(found, where, -1)

    def _context_rows(self, contexts: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each level k = 1..order: (usable, row of the last k-1 context tokens or -1).

        ``contexts`` is (M, order-1) ids with -1 for missing tokens on the left; a level is
        usable when the context has at least k-1 tokens.
        """
        num, width = contexts.shape
        available = (contexts >= 0).sum(axis=1)
        levels = [(np.ones(num, bool), np.zeros(num, np.int64))]
        for k in range(2, self.order + 1):
            row = np.zeros(num, np.int64)
            for j in range(k - 1):
                row = self._find(j + 1, row, contexts[:, width - (k - 1) + j])
            levels.append((available >= k - 1, row))
        return levels

    def _context_ids(self, context: Sequence[str]) -> np.ndarray:
        """(1, order-1) ids; a padded model's context that starts with BOS is left-filled."""
        ids = self._encode(list(context))[-(self.order - 1):] if self.order > 1 else []
        ids = np.asarray(ids, np.int64)
        fill = -1
        if self.pad and len(context) > 0 and context[0] == self.bos:
            fill = self.vocab_.stoi[self.bos]
        row = np.full(self.order - 1, fill, np.int64)
        if len(ids):
            row[len(row) - len(ids):] = ids
        return row[None, :]

    def _windows(self, sequences) -> tuple[np.ndarray, np.ndarray]:
        """Contexts (M, order-1) and targets (M,) of every predicted token in ``sequences``.

        A context never reaches back into the previous sequence: missing tokens are -1.
        """
        ids, room, is_target, lengths = self._stream(sequences, training=False)
        position = np.flatnonzero(is_target)
        first = np.repeat(np.cumsum(lengths) - lengths, lengths)[position]  # sequence start
        source = position[:, None] + np.arange(-(self.order - 1), 0)[None, :]  # (M, order-1)
        contexts = np.where(source >= first[:, None], ids[np.maximum(source, 0)], -1)
        return contexts, ids[position]


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)


def is_integer(value) -> bool:
    """An integral number (int, numpy.int64, ...) that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_sequences(sequences, where: str) -> list[Sequence[str]]:
    """A list of sequences, each a str (one token per character) or a list of str tokens.

    Anything else is a TypeError that names the offending sequence or token and its place.
    """
    if isinstance(sequences, (str, bytes)):
        raise TypeError(
            f"{where} takes an iterable of token sequences, not one string: pass [text] for "
            "characters or [word_tokenize(line) for line in lines] for words"
        )
    result = []
    for i, sequence in enumerate(sequences):
        if isinstance(sequence, str):
            result.append(sequence)
            continue
        if isinstance(sequence, (bytes, bytearray)) or not isinstance(sequence, Iterable):
            raise TypeError(
                f"{where}: sequence {i} is {type(sequence).__name__} {sequence!r:.40}, not a str "
                "or a list of str tokens" + (": decode it first, e.g. data.decode('utf-8')"
                                             if isinstance(sequence, (bytes, bytearray)) else "")
            )
        tokens = list(sequence)
        if not all(map(isinstance, tokens, itertools.repeat(str))):
            j = next(j for j, t in enumerate(tokens) if not isinstance(t, str))
            raise TypeError(
                f"{where}: token {tokens[j]!r:.40} ({type(tokens[j]).__name__}) at sequence {i}, "
                f"position {j} is not a str: every token must be a string (decode bytes with "
                ".decode('utf-8'), write numbers with str(), drop missing tokens)"
            )
        result.append(tokens)
    return result


def refuse_padding_symbols(sequences, bos: str, eos: str, where: str) -> None:
    """ValueError when the data holds a literal BOS/EOS, which padding would silently merge."""
    for symbol, name in ((bos, "bos"), (eos, "eos")):
        found = [(i, s) for i, s in enumerate(sequences)
                 if symbol in s and (len(symbol) == 1 or not isinstance(s, str))][:1]
        if not found:
            continue
        (i, sequence), = found
        j = sequence.index(symbol)
        raise ValueError(
            f"{where}: token {symbol!r} at sequence {i}, position {j} is the padding symbol "
            f"{name}={symbol!r}, which pad=True adds around every sequence, so the two would be "
            f"counted as one: remove it from the data, choose padding symbols that do not occur "
            f"in it (NgramLM(..., bos='<bos>', eos='<eos>')), or pass pad=False if the sequences "
            "are padded already"
        )
