"""Finding a corpus file (mirror, cache or download), verifying it, and reporting where each is."""

from __future__ import annotations

import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from course_lib.corpora import archives
from course_lib.corpora.catalogue import CORPORA, Corpus, CorpusError, CorpusFile

DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK_BYTES = 1 << 16


def cache_dir() -> Path:
    """Where downloads go: ``$COURSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/course-lib``, else
    ``~/.cache/course-lib``."""
    if os.environ.get("COURSE_CACHE_DIR"):
        return Path(os.environ["COURSE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "course-lib"


def mirror_dir() -> Path | None:
    """The local mirror named by ``$COURSE_DATA_DIR``, or None when it is not set."""
    value = os.environ.get("COURSE_DATA_DIR")
    return Path(value).expanduser() if value else None


def _corpus(name: str | Corpus) -> Corpus:
    if isinstance(name, Corpus):
        return name
    if name not in CORPORA:
        raise ValueError(f"Unknown corpus {name!r}. Known corpora: {', '.join(CORPORA)}.")
    return CORPORA[name]


def _offline_hint(corpus_file: CorpusFile) -> str:
    mirror = mirror_dir()
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
    mirror = mirror_dir()
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
    if corpus.archive is not None:
        local, how = archives.resolve(corpus.archive, log)
        log(f"{_FETCH_MESSAGES[how]} {local} ({corpus.archive.file_count:,} files)")
        return [local]
    found = []
    for corpus_file in corpus.files:
        local, how = _resolve(corpus_file, log)
        log(f"{_FETCH_MESSAGES[how]} {local}")
        found.append(local)
    return found


def availability() -> dict[str, str]:
    """Where each corpus is, without verifying or downloading: "mirror ...", "cached ..." or
    "not downloaded ..." (``fetch`` verifies)."""
    mirror, cache = mirror_dir(), cache_dir()
    states = {}
    for name, corpus in CORPORA.items():
        if corpus.archive is not None:
            where, how = archives.locate(corpus.archive)
            states[name] = (f"{how} ({where.parent})" if where else
                            f"not downloaded (`course data fetch {name}`)")
            continue
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
