"""Vocabularies and tokenizers: turning text into integer ids and back.

The course owns these small pieces instead of depending on torchtext (abandoned, and the
reason two famous tutorials broke).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"

_WORD_PATTERN = re.compile(r"\w+|[^\w\s]")


def char_tokenize(text: str) -> list[str]:
    """Split text into characters (newlines and spaces included)."""
    return list(text)


def word_tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split text into words and single punctuation marks: ``\\w+|[^\\w\\s]``."""
    if lowercase:
        text = text.lower()
    return _WORD_PATTERN.findall(text)


class Vocab:
    """A two-way map between tokens and integer ids.

    Special tokens come first, in the order given (by default ``<pad>`` = 0, ``<unk>`` = 1,
    ``<bos>`` = 2, ``<eos>`` = 3); then tokens by decreasing count, ties broken by first
    appearance, so the same corpus always gives the same ids.
    """

    def __init__(self, tokens: Sequence[str], specials: Sequence[str] = (PAD, UNK, BOS, EOS)):
        itos = list(specials) + [t for t in tokens if t not in set(specials)]
        if len(set(itos)) != len(itos):
            raise ValueError("Vocab tokens must be unique; build from a corpus with Vocab.build")
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(itos)}
        self.specials: tuple[str, ...] = tuple(specials)

    @classmethod
    def build(
        cls,
        sequences: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = (PAD, UNK, BOS, EOS),
    ) -> Vocab:
        """Count tokens over tokenized sequences and keep those seen at least ``min_freq`` times.

        ``max_size`` caps the number of ordinary (non-special) tokens, most frequent first.
        """
        if isinstance(sequences, str):
            raise TypeError(
                "Vocab.build takes an iterable of token sequences, not one string: "
                "pass [char_tokenize(text)] or [word_tokenize(s) for s in sentences]"
            )
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < 0:
            raise ValueError(f"max_size must be >= 0 (or None for no cap), got {max_size}")
        counts: Counter[str] = Counter()
        for sequence in sequences:
            counts.update(sequence)
        kept = [t for t, c in counts.most_common() if c >= min_freq and t not in specials]
        if max_size is not None:
            kept = kept[:max_size]
        return cls(kept, specials=specials)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, specials={list(self.specials)})"

    def _special_id(self, token: str) -> int:
        if token not in self.stoi:
            raise KeyError(f"This vocab has no {token} token; build it with {token} in specials")
        return self.stoi[token]

    @property
    def pad_id(self) -> int:
        return self._special_id(PAD)

    @property
    def unk_id(self) -> int:
        return self._special_id(UNK)

    @property
    def bos_id(self) -> int:
        return self._special_id(BOS)

    @property
    def eos_id(self) -> int:
        return self._special_id(EOS)

    def encode(self, tokens: Sequence[str], add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Token ids; unknown tokens map to ``<unk>`` (an error if this vocab has none)."""
        if isinstance(tokens, str):
            raise TypeError(
                "encode takes a list of tokens, not a string: call char_tokenize(text) or "
                "word_tokenize(text) first"
            )
        unk = self.stoi.get(UNK)
        ids = []
        for token in tokens:
            index = self.stoi.get(token, unk)
            if index is None:
                raise KeyError(
                    f"Token {token!r} is not in the vocab and the vocab has no {UNK} token"
                )
            ids.append(index)
        if add_bos:
            ids.insert(0, self.bos_id)
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids: Iterable[int], skip_specials: bool = True) -> list[str]:
        """Tokens for ids; special tokens are dropped unless ``skip_specials=False``."""
        tokens = []
        for index in ids:
            index = int(index)
            if not 0 <= index < len(self.itos):
                raise IndexError(f"id {index} is outside this vocab (size {len(self.itos)})")
            token = self.itos[index]
            if skip_specials and token in self.specials:
                continue
            tokens.append(token)
        return tokens

    def to_json(self) -> str:
        return json.dumps({"itos": self.itos, "specials": list(self.specials)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Vocab:
        data = json.loads(text)
        specials = data["specials"]
        return cls(data["itos"][len(specials):], specials=specials)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def train_bpe(texts: Iterable[str], vocab_size: int, specials: Sequence[str] = (PAD, UNK, BOS, EOS)):
    """A byte-level BPE ``tokenizers.Tokenizer`` trained on ``texts`` (chapter 10's recipe, as
    in GPT-2: any text encodes, and ``decode`` gives it back).

    ``specials`` get the first ids in order, so ``Vocab(bpe_tokens(tokenizer))`` has the same
    ids as the tokenizer (``<pad>`` = 0, ``<unk>`` = 1, ``<bos>`` = 2, ``<eos>`` = 3).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if isinstance(texts, str):
        raise TypeError("train_bpe takes an iterable of texts, not one string: pass [text]")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  special_tokens=list(specials),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def bpe_tokens(tokenizer, specials: Sequence[str] = (PAD, UNK, BOS, EOS)) -> list[str]:
    """A BPE tokenizer's ordinary tokens in id order (for ``Vocab(..., specials)``)."""
    size = tokenizer.get_vocab_size()
    for index, special in enumerate(specials):
        if tokenizer.token_to_id(special) != index:
            raise ValueError(f"{special!r} is not id {index} of this tokenizer; train it with "
                             f"train_bpe(..., specials={tuple(specials)!r})")
    return [tokenizer.id_to_token(index) for index in range(len(specials), size)]
