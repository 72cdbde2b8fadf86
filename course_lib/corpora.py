"""The course's real corpora: where they come from, how they are verified, how they load.

Each corpus in ``CORPORA`` lists its files, each with a relative path, the canonical URL at a
pinned commit and a SHA-256 (or, for one file, a validator). A file is looked for in order:

1. ``$COURSE_DATA_DIR/<path>``: a local mirror (CI points it at a read-only copy);
2. ``cache_dir()/<path>``: files downloaded earlier;
3. the URL: streamed into a temporary file in the cache folder, verified, then renamed into
   place (``os.replace``), so a failed or interrupted download never leaves a partial file.

Every file is verified each time it is used, wherever it was found. Loaders build Hugging Face
``datasets`` objects in memory (no hub, works with ``HF_DATASETS_OFFLINE=1``).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import random
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from course_lib.conllu import count_conllu, parse_conllu

if TYPE_CHECKING:
    from datasets import DatasetDict

DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK_BYTES = 1 << 16


class CorpusError(RuntimeError):
    """A corpus file is missing, could not be downloaded, or failed verification."""


@dataclass(frozen=True)
class CorpusFile:
    """One file: its path relative to the mirror/cache root, its URL and how to verify it.

    ``validator`` (used when ``sha256`` is None) takes the local path and raises
    ``CorpusError`` if the file is wrong.
    """

    path: str
    url: str
    sha256: str | None = None
    validator: Callable[[Path], None] | None = None

    def __post_init__(self) -> None:
        if (self.sha256 is None) == (self.validator is None):
            raise ValueError(f"CorpusFile {self.path!r}: give exactly one of sha256= or validator=.")

    def verify(self, local: Path) -> None:
        """Raise ``CorpusError`` unless ``local`` is this file."""
        if self.validator is not None:
            self.validator(local)
            return
        actual = _sha256(local)
        if actual != self.sha256:
            raise CorpusError(f"{local}: SHA-256 is {actual}, expected {self.sha256}.")


@dataclass(frozen=True)
class Corpus:
    """A named corpus: its files and what to tell users about it (licence, citation)."""

    name: str
    description: str
    licence: str
    citation: str
    files: tuple[CorpusFile, ...] = field(default_factory=tuple)

    def file(self, filename: str) -> CorpusFile:
        """The file whose relative path or base name is ``filename``."""
        for corpus_file in self.files:
            if filename in (corpus_file.path, Path(corpus_file.path).name):
                return corpus_file
        known = ", ".join(Path(f.path).name for f in self.files)
        raise ValueError(f"Corpus {self.name!r} has no file {filename!r}; its files: {known}.")


def _github(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def expect_conllu_counts(sentences: int, words: int) -> Callable[[Path], None]:
    """A validator that accepts a CoNLL-U file with exactly these sentence and word counts."""

    def validate(local: Path) -> None:
        found = count_conllu(local)
        if found != (sentences, words):
            raise CorpusError(f"{local}: {found[0]:,} sentences and {found[1]:,} words, "
                              f"expected {sentences:,} and {words:,}.")

    return validate


_MULTI30K = "multi30k/dataset", "a3d2e0d26b56f3846f66a952536ffed4e401d05a"
_MULTI30K_SHA256 = {
    "test_2016_flickr.cs.gz": "200a4a74cc9560f051924abb9803be008d1908d77f747e9141aeb86dfd2797f1",
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2016_flickr.fr.gz": "6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90",
    "train.cs.gz": "a65adb8b32e3bc664f21ecba7a6e7f6950fd1f405e135f7c312faabdb6255077",
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "train.fr.gz": "622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c",
    "val.cs.gz": "b63226e05c4bd5dd6a42897d74b86a1b9d2c31498252c572b1ea7f7996927fcc",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "val.fr.gz": "ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9",
}
_EWT = "UniversalDependencies/UD_English-EWT", "15d613d8447b3478787d4c278730a1e48a945efb"
_MR = "dennybritz/cnn-text-classification-tf", "18762b459e21d9c70e5c242f8d43fc4e6db37a0d"

CORPORA: dict[str, Corpus] = {corpus.name: corpus for corpus in [
    Corpus(
        "tinyshakespeare",
        "Tiny Shakespeare: 1.1 MB of Shakespeare's plays, the character-level LM benchmark",
        "public-domain text",
        "Karpathy, A. (2015). char-rnn. https://github.com/karpathy/char-rnn",
        (CorpusFile("tinyshakespeare/input.txt", _github(
            "karpathy/char-rnn", "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e",
            "data/tinyshakespeare/input.txt"),
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),),
    ),
    Corpus(
        "names",
        "32,033 lowercase first names (US Social Security data), as used by makemore",
        "public data (US government)",
        "Karpathy, A. (2022). makemore. https://github.com/karpathy/makemore",
        (CorpusFile("names/names.txt", _github(
            "karpathy/makemore", "988aa59e4d8fefa526d06f3b453ad116258398d4", "names.txt"),
            "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"),),
    ),
    Corpus(
        "multi30k",
        "Multi30k task 1: image captions aligned in English, German, French and Czech (MT)",
        "research use; cite Elliott et al. 2016",
        "Elliott, D., Frank, S., Sima'an, K. and Specia, L. (2016). Multi30K: Multilingual "
        "English-German Image Descriptions. Proceedings of the 5th Workshop on Vision and "
        "Language, pp. 70-74.",
        tuple(CorpusFile(f"multi30k/{name}", _github(*_MULTI30K, f"data/task1/raw/{name}"), sha)
              for name, sha in _MULTI30K_SHA256.items()),
    ),
    Corpus(
        "ud_english_ewt",
        "Universal Dependencies English Web Treebank v2.16: sentences tagged with UPOS and PTB",
        "CC BY-SA 4.0",
        "Silveira, N. et al. (2014). A Gold Standard Dependency Corpus for English. "
        "Proceedings of LREC 2014.",
        (
            CorpusFile("ud_english_ewt/en_ewt-ud-train.conllu",
                       _github(*_EWT, "en_ewt-ud-train.conllu"),
                       # The mirror's copy was reassembled from the treebank's sources: same
                       # counts as the release, possibly different bytes. Check the counts.
                       validator=expect_conllu_counts(12_544, 204_577)),
            CorpusFile("ud_english_ewt/en_ewt-ud-dev.conllu", _github(*_EWT, "en_ewt-ud-dev.conllu"),
                       "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6"),
            CorpusFile("ud_english_ewt/en_ewt-ud-test.conllu",
                       _github(*_EWT, "en_ewt-ud-test.conllu"),
                       "e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd"),
            CorpusFile("ud_english_ewt/LICENSE.txt", _github(*_EWT, "LICENSE.txt"),
                       "b3d1b0f4c6ae151f7eb78738f46ebd5ee140f8a7f76501ba26af123140d35ae7"),
        ),
    ),
    Corpus(
        "mr",
        "MR movie-review sentence polarity v1.0: 5,331 positive + 5,331 negative sentences",
        "research use; cite Pang & Lee 2005",
        "Pang, B. and Lee, L. (2005). Seeing stars: Exploiting class relationships for "
        "sentiment categorization with respect to rating scales. Proceedings of ACL 2005.",
        (
            CorpusFile("rt_polarity/rt-polarity.pos",
                       _github(*_MR, "data/rt-polaritydata/rt-polarity.pos"),
                       "4134882974a28d0c7b5151256f0e33a6169984ee7372c279e673f1114f475d58"),
            CorpusFile("rt_polarity/rt-polarity.neg",
                       _github(*_MR, "data/rt-polaritydata/rt-polarity.neg"),
                       "2d11cfbc790f1cd96d78339f41ce53ced1efa83cd22d37d6788fa3fe3d17e2fd"),
        ),
    ),
]}


# --- Finding, downloading and verifying files ---------------------------------------------

def cache_dir() -> Path:
    """Where downloads go: ``$COURSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/course-lib``, else
    ``~/.cache/course-lib``."""
    if os.environ.get("COURSE_CACHE_DIR"):
        return Path(os.environ["COURSE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "course-lib"


def _mirror_dir() -> Path | None:
    value = os.environ.get("COURSE_DATA_DIR")
    return Path(value).expanduser() if value else None


def _corpus(name: str | Corpus) -> Corpus:
    if isinstance(name, Corpus):
        return name
    if name not in CORPORA:
        raise ValueError(f"Unknown corpus {name!r}. Known corpora: {', '.join(CORPORA)}.")
    return CORPORA[name]


def _offline_hint(corpus_file: CorpusFile) -> str:
    mirror = _mirror_dir()
    now = f" (it is {mirror}, which has no such file)" if mirror is not None else ""
    return (f"To work offline, set COURSE_DATA_DIR{now} to a folder that has the file at "
            f"<COURSE_DATA_DIR>/{corpus_file.path}, or put it at {cache_dir() / corpus_file.path}.")


def download(corpus_file: CorpusFile, destination: Path,
             timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Stream ``corpus_file.url`` to ``destination``, verified; nothing is left behind on failure.

    The bytes go to a temporary file next to ``destination``, which is verified and then
    renamed into place atomically. Any failure (HTTP error, refused or dropped connection,
    timeout, wrong hash, Ctrl-C) deletes the temporary file and raises.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.",
                                         suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            _stream(corpus_file, out, timeout)
        try:
            corpus_file.verify(Path(temporary))
        except CorpusError as error:
            raise CorpusError(f"Downloaded {corpus_file.path} from {corpus_file.url} but it "
                              f"failed verification, so it was deleted: {error} "
                              + _offline_hint(corpus_file)) from None
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a cache file needs no secrecy
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return destination


def _stream(corpus_file: CorpusFile, out, timeout: float) -> None:
    received = 0
    try:
        with urllib.request.urlopen(corpus_file.url, timeout=timeout) as response:
            announced = response.headers.get("Content-Length")
            while chunk := response.read(_CHUNK_BYTES):
                out.write(chunk)
                received += len(chunk)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise CorpusError(f"Could not download {corpus_file.path} from {corpus_file.url}: "
                          f"{error}. " + _offline_hint(corpus_file)) from error
    # http.client returns b"" (no error) when the server closes early, so compare lengths.
    if announced is not None and received != int(announced):
        raise CorpusError(f"Could not download {corpus_file.path} from {corpus_file.url}: the "
                          f"connection closed after {received:,} of {int(announced):,} bytes. "
                          + _offline_hint(corpus_file))


def _resolve(corpus_file: CorpusFile, log: Callable[[str], None]) -> tuple[Path, str]:
    """(verified local path, how it was found: "mirror", "cached" or "downloaded")."""
    mirror = _mirror_dir()
    if mirror is not None and (mirror / corpus_file.path).is_file():
        local = mirror / corpus_file.path
        try:
            corpus_file.verify(local)
        except CorpusError as error:
            raise CorpusError(f"Mirror file {corpus_file.path} (COURSE_DATA_DIR={mirror}) is not "
                              f"the expected file: {error} Replace it with {corpus_file.url}, "
                              "or unset COURSE_DATA_DIR to download it.") from None
        return local, "mirror"
    cached = cache_dir() / corpus_file.path
    if cached.is_file():
        try:
            corpus_file.verify(cached)
            return cached, "cached"
        except CorpusError as error:
            log(f"cached file is corrupted ({error}); downloading it again")
            cached.unlink()
    log(f"downloading {corpus_file.url}")
    return download(corpus_file, cached), "downloaded"


def path(name: str | Corpus, filename: str, log: Callable[[str], None] = print) -> Path:
    """The verified local path of one file of a corpus (mirror, cache, or a fresh download).

    ``filename`` is the file's base name (``"input.txt"``) or relative path. ``log`` is only
    called when something is downloaded.
    """
    corpus = _corpus(name)
    return _resolve(corpus.file(filename), log)[0]


_FETCH_MESSAGES = {"mirror": "verified mirror file", "cached": "cached", "downloaded": "downloaded"}


def fetch(name: str | Corpus, log: Callable[[str], None] = print) -> list[Path]:
    """Make every file of a corpus available and verified; log what was done per file."""
    corpus = _corpus(name)
    found = []
    for corpus_file in corpus.files:
        local, how = _resolve(corpus_file, log)
        log(f"{_FETCH_MESSAGES[how]} {local}")
        found.append(local)
    return found


def availability() -> dict[str, str]:
    """Where each corpus is, without verifying or downloading: "mirror ...", "cached ..." or
    "not downloaded ..." (``fetch`` verifies)."""
    mirror, cache = _mirror_dir(), cache_dir()
    states = {}
    for name, corpus in CORPORA.items():
        in_mirror = [mirror is not None and (mirror / f.path).is_file() for f in corpus.files]
        in_cache = [(cache / f.path).is_file() for f in corpus.files]
        missing = sum(not (m or c) for m, c in zip(in_mirror, in_cache, strict=True))
        if all(in_mirror):
            states[name] = f"mirror ({mirror})"
        elif missing == 0:
            states[name] = f"cached ({cache})"
        else:
            states[name] = (f"not downloaded ({missing} of {len(corpus.files)} files missing; "
                            f"`course data fetch {name}`)")
    return states


def _sha256(local: Path) -> str:
    digest = hashlib.sha256()
    with open(local, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- Loaders -------------------------------------------------------------------------------

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


_LOADERS: dict[str, Callable[[], DatasetDict]] = {
    "tinyshakespeare": load_tinyshakespeare, "names": load_names, "multi30k": load_multi30k,
    "ud_english_ewt": load_ud_english_ewt, "mr": load_mr,
}


def load(name: str) -> DatasetDict:
    """``load_<name>()`` for a name of ``CORPORA``."""
    if name not in _LOADERS:
        raise ValueError(f"Unknown corpus {name!r}. Known corpora: {', '.join(_LOADERS)}.")
    return _LOADERS[name]()
