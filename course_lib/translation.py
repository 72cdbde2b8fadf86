"""Multi30k German -> English for the encoder-decoder chapters, tokenized by the course's code.

No downloaded tokenizer models: ``tokenize`` is one regular expression, the one of
``text.word_tokenize`` (``\\w+|[^\\w\\s]``, lower-cased) with one change: hyphenated words stay
whole (``T-Shirt`` -> ``t-shirt``, ``Baseball-Spieler`` -> ``baseball-spieler``), because
German writes many compounds that way. ``\\w`` is Unicode-aware, so umlauts and ß are letters
(``Mädchen``, ``Straße``). Apostrophes are split off as in ``word_tokenize``
(``man's`` -> ``man ' s``).

Examples follow ``course_lib.tasks``'s convention: ``src = x <eos>``, ``tgt = <bos> y <eos>``.
Vocabularies are built on the training split only (``min_freq=2``); rarer words become <unk>.
BLEU is computed on detokenized lower-cased text: ``detokenize`` of the model's tokens against
the raw reference sentence, lower-cased (sacrebleu then applies its own tokenizer to both).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from course_lib.data import pad_sequences
from course_lib.decoding import beam_search, greedy_decode, tokens_until_eos
from course_lib.text import Vocab

_TOKEN_PATTERN = re.compile(r"\w+(?:-\w+)*|[^\w\s]")
_CONTRACTIONS = re.compile(r" ' (s|t|re|ve|ll|d|m)\b")

Pairs = list[tuple[list[int], list[int]]]


def tokenize(text: str) -> list[str]:
    """Lower-cased words (hyphenated ones whole) and single punctuation marks."""
    return _TOKEN_PATTERN.findall(text.lower())


def detokenize(tokens: Sequence[str]) -> str:
    """Tokens back to plain text: spaces, except before ``. , ! ? ; : ) %`` and after ``(``,
    and ``' s`` etc. re-attached (``man ' s`` -> ``man's``)."""
    if isinstance(tokens, str):
        raise TypeError("detokenize takes a list of tokens, not a string")
    text = " ".join(tokens)
    text = re.sub(r" ([.,!?;:)%\]])", r"\1", text)
    text = re.sub(r"([(\[]) ", r"\1", text)
    return _CONTRACTIONS.sub(r"'\1", text)


@dataclass(frozen=True)
class TranslationData:
    """Id pairs per split (``data["train"]``) and the two vocabularies."""

    splits: dict[str, Pairs]
    src_vocab: Vocab
    tgt_vocab: Vocab
    src_lang: str
    tgt_lang: str

    def __getitem__(self, split: str) -> Pairs:
        if split not in self.splits:
            raise KeyError(f"No split {split!r}; this data has {', '.join(self.splits)}")
        return self.splits[split]


def build_translation_data(
    splits: Mapping[str, Mapping[str, Sequence[str]]],
    src_lang: str = "de",
    tgt_lang: str = "en",
    min_freq: int = 2,
) -> TranslationData:
    """Tokenize every split, build both vocabularies on ``splits["train"]`` and encode.

    ``splits`` maps split names to columns of sentences, ``{"train": {"de": [...], "en":
    [...]}, ...}`` (a ``DatasetDict`` works). Sentence pairs are kept in order, none dropped.
    """
    if "train" not in splits:
        raise ValueError(f"splits needs a 'train' split to build vocabularies; got {list(splits)}")
    tokenized = {}
    for name, columns in splits.items():
        missing = [lang for lang in (src_lang, tgt_lang) if lang not in columns]
        if missing:
            raise KeyError(f"split {name!r} has no column {missing[0]!r}")
        src, tgt = list(columns[src_lang]), list(columns[tgt_lang])
        if len(src) != len(tgt):
            raise ValueError(f"split {name!r}: {len(src)} {src_lang} but {len(tgt)} {tgt_lang} sentences")
        tokenized[name] = ([tokenize(s) for s in src], [tokenize(t) for t in tgt])
    src_vocab = Vocab.build(tokenized["train"][0], min_freq=min_freq)
    tgt_vocab = Vocab.build(tokenized["train"][1], min_freq=min_freq)
    encoded = {
        name: [(src_vocab.encode(s, add_eos=True), tgt_vocab.encode(t, add_bos=True, add_eos=True))
               for s, t in zip(src, tgt, strict=True)]
        for name, (src, tgt) in tokenized.items()
    }
    return TranslationData(encoded, src_vocab, tgt_vocab, src_lang, tgt_lang)


def load_multi30k_translation(src_lang: str = "de", tgt_lang: str = "en", min_freq: int = 2) -> TranslationData:
    """Multi30k (``corpora.load_multi30k``: 29,000 / 1,014 / 1,000 pairs) as ``TranslationData``."""
    from course_lib.corpora import load_multi30k

    dataset = load_multi30k()
    columns = {split: {lang: dataset[split][lang] for lang in (src_lang, tgt_lang)} for split in dataset}
    return build_translation_data(columns, src_lang, tgt_lang, min_freq)


def translate(
    model,
    pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    beam_size: int = 1,
    length_penalty: float = 0.0,
    max_len: int = 60,
    batch_size: int = 100,
    to_text: Callable[[list[int]], str] | None = None,
    min_len: int = 0,
) -> list[str]:
    """Detokenised target sentences for the sources of ``(src_ids, tgt_ids)`` pairs.

    Greedy decoding when ``beam_size == 1`` and ``length_penalty == 0``, otherwise the best
    hypothesis of ``decoding.beam_search``. Works for every seq2seq model with the decoding
    protocol (``encode`` / ``decode_step``); batches go to the model's device. ``to_text``
    turns one output's ids (without <eos>) into text; by default ``detokenize`` of
    ``tgt_vocab.decode(ids)`` (word vocabularies; pass a subword tokenizer's decoder instead).
    ``min_len`` forbids <eos> before that many tokens (``decoding.greedy_decode``).
    """
    to_text = to_text or (lambda ids: detokenize(tgt_vocab.decode(ids)))
    device = next(model.parameters()).device
    bos, eos = tgt_vocab.bos_id, tgt_vocab.eos_id
    sentences = []
    for start in range(0, len(pairs), batch_size):
        sources = [src for src, _ in pairs[start : start + batch_size]]
        src, lengths, _ = pad_sequences(sources, src_vocab.pad_id)  # (B, S), (B,)
        src = src.to(device)
        if beam_size == 1 and length_penalty == 0:
            outputs = greedy_decode(model, src, lengths, max_len, bos, eos, min_len=min_len)
        else:
            beams = beam_search(model, src, lengths, beam_size, max_len, bos, eos,
                                length_penalty=length_penalty, min_len=min_len)
            outputs = [hypotheses[0].tokens for hypotheses in beams]
        sentences += [to_text(ids) for ids in tokens_until_eos(outputs, eos)]
    return sentences
