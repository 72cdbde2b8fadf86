"""The Free Spoken Digit Dataset: fetching it, its splits, and connected-digit utterances.

FSDD (Jackson et al.) is 3,000 recordings of the digits 0-9, 6 speakers x 10 digits x 50
takes, mono 16-bit PCM at 8 kHz, named ``{digit}_{speaker}_{take}.wav``.

**Fetching 3,000 small files.** The recordings are found like every corpus file (the mirror
``$COURSE_DATA_DIR/fsdd/recordings``, then the cache), but a first use downloads the
repository's archive at the pinned commit in one request instead of 3,000 raw-file requests
(minutes, and rate-limited). Archive bytes are not guaranteed stable across GitHub's
re-compressions, file contents are: so each extracted recording is hashed, and the sorted list
of (SHA-256, name) lines must hash to ``manifest_sha256``: one 64-character checksum that still
verifies every file. Extraction goes to a temporary folder renamed into place, so a failure
never leaves a half-filled folder. Splits follow the dataset's README: takes 0-4 of every
speaker and digit are the test set; a second split holds one speaker out entirely.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from course_lib import audio, corpora

SAMPLE_RATE = 8_000
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
_REPO, _COMMIT = "Jakobovski/free-spoken-digit-dataset", "26eb9aaf76e81b692f806f9140c2d2777410d7a1"


@dataclass(frozen=True)
class ArchiveSource:
    """A folder of many files fetched as one archive and checked file by file.

    ``member_folder``: the folder inside the archive (below its top-level folder) whose files
    are kept; ``manifest_sha256``: SHA-256 of the lines ``"<sha256>  <name>\\n"`` of all its
    files, sorted by name; ``count``: how many files that is.
    """

    folder: str
    url: str
    member_folder: str
    manifest_sha256: str
    count: int


FSDD_RECORDINGS = ArchiveSource(
    folder="fsdd/recordings",
    url=f"https://github.com/{_REPO}/archive/{_COMMIT}.tar.gz",
    member_folder="recordings",
    manifest_sha256="1801eae019c063377d98f831d3f93574f259475df7332bb0e3d1b080fb5e6959",
    count=3_000,
)


def manifest_sha256(hashes: dict[str, str]) -> str:
    """The SHA-256 of ``"<sha256>  <name>\\n"`` lines sorted by name (as ``sha256sum`` prints)."""
    lines = "".join(f"{hashes[name]}  {name}\n" for name in sorted(hashes))
    return hashlib.sha256(lines.encode()).hexdigest()


def _check_manifest(hashes: dict[str, str], source: ArchiveSource, where: str) -> None:
    found = manifest_sha256(hashes)
    if len(hashes) != source.count or found != source.manifest_sha256:
        raise corpora.CorpusError(
            f"{where}: {len(hashes):,} files whose checksum manifest is {found}, expected "
            f"{source.count:,} files with manifest {source.manifest_sha256}: a file is missing, "
            f"extra or changed. Delete the folder to download it again from {source.url}.")


def _folder_hashes(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in folder.iterdir() if path.is_file()}


def _archive_members(archive: tarfile.TarFile, source: ArchiveSource) -> list[tarfile.TarInfo]:
    """The archive's regular files directly inside ``<top>/<member_folder>/``."""
    members = []
    for member in archive.getmembers():
        parts = member.name.split("/")
        if member.isfile() and len(parts) == 3 and parts[1] == source.member_folder:
            members.append(member)
    return members


def _archive_validator(source: ArchiveSource) -> Callable[[Path], None]:
    def validate(local: Path) -> None:
        try:
            with tarfile.open(local, "r:gz") as archive:
                hashes = {Path(member.name).name: hashlib.sha256(archive.extractfile(member).read())
                          .hexdigest() for member in _archive_members(archive, source)}
        except (tarfile.TarError, OSError, EOFError) as error:
            raise corpora.CorpusError(f"{local} is not a readable .tar.gz archive: {error}") from None
        _check_manifest(hashes, source, f"the archive {source.url}")

    return validate


def _extract(archive_path: Path, source: ArchiveSource, destination: Path) -> None:
    """Unpack the member folder into ``destination`` via a temporary folder and a rename."""
    temporary = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}."))
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            for member in _archive_members(archive, source):
                (temporary / Path(member.name).name).write_bytes(archive.extractfile(member).read())
        _check_manifest(_folder_hashes(temporary), source, str(destination))
        temporary.rename(destination)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def recordings_dir(source: ArchiveSource = FSDD_RECORDINGS, log: Callable[[str], None] = print) -> Path:
    """The verified folder of the recordings: the mirror's, the cache's, or a fresh download.

    Every file is hashed each time (about 0.2 s for FSDD's 21 MB on the course machine). A
    cached folder that fails the check is deleted and downloaded again; a mirror that fails it
    is an error.
    """
    mirror = corpora.mirror_dir()
    if mirror is not None and (mirror / source.folder).is_dir():
        _check_manifest(_folder_hashes(mirror / source.folder), source,
                        f"the mirror folder {mirror / source.folder} (COURSE_DATA_DIR)")
        return mirror / source.folder
    cached = corpora.cache_dir() / source.folder
    if cached.is_dir():
        try:
            _check_manifest(_folder_hashes(cached), source, str(cached))
            return cached
        except corpora.CorpusError as error:
            log(f"cached folder is incomplete or changed ({error}); downloading it again")
            shutil.rmtree(cached)
    archive_file = corpora.CorpusFile(f"{source.folder}.tar.gz", source.url,
                                      validator=_archive_validator(source))
    archive_path = corpora.cache_dir() / archive_file.path
    log(f"downloading {source.url} (one archive; every file is checked)")
    corpora.download(archive_file, archive_path)
    try:
        _extract(archive_path, source, cached)
    finally:
        archive_path.unlink(missing_ok=True)
    return cached


# --- Recordings and splits --------------------------------------------------------------------

@dataclass(frozen=True)
class Recording:
    """One recording: the digit said, who said it, which take (0-49), and its samples (N,)."""

    digit: int
    speaker: str
    take: int
    samples: torch.Tensor


def parse_name(name: str) -> tuple[int, str, int]:
    """``"7_theo_12.wav"`` -> (7, "theo", 12)."""
    parts = Path(name).stem.split("_")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[2].isdigit():
        raise ValueError(f"{name!r} is not an FSDD recording name '<digit>_<speaker>_<take>.wav'.")
    return int(parts[0]), parts[1], int(parts[2])


def load_fsdd(folder: Path | None = None) -> list[Recording]:
    """All recordings, sorted by (speaker, digit, take). ``folder`` defaults to
    ``recordings_dir()`` (verified)."""
    folder = recordings_dir() if folder is None else folder
    recordings = []
    for path in sorted(folder.glob("*.wav")):
        digit, speaker, take = parse_name(path.name)
        samples, rate = audio.read_wav(path)
        if rate != SAMPLE_RATE:
            raise corpora.CorpusError(f"{path}: sample rate {rate}, expected {SAMPLE_RATE}.")
        recordings.append(Recording(digit, speaker, take, samples))
    return sorted(recordings, key=lambda r: (r.speaker, r.digit, r.take))


def official_split(recordings: Sequence[Recording]) -> tuple[list[Recording], list[Recording]]:
    """(train, test): takes 0-4 of every speaker and digit are the test set (300 of 3,000)."""
    return ([r for r in recordings if r.take >= 5], [r for r in recordings if r.take < 5])


def held_out_speaker_split(recordings: Sequence[Recording], speaker: str = "theo"
                           ) -> tuple[list[Recording], list[Recording]]:
    """(train, test): every take of ``speaker`` is the test set, the other speakers train."""
    if speaker not in {r.speaker for r in recordings}:
        raise ValueError(f"No recordings of speaker {speaker!r}; speakers: {', '.join(SPEAKERS)}.")
    return ([r for r in recordings if r.speaker != speaker], [r for r in recordings if r.speaker == speaker])


# --- Connected digits -------------------------------------------------------------------------

def join_recordings(recordings: Sequence[Recording], rng: random.Random,
                    gap_seconds: tuple[float, float] = (0.05, 0.3), noise: float = 1e-3
                    ) -> tuple[torch.Tensor, list[int]]:
    """(samples (N,), digits): the recordings one after the other, with a silence of a random
    length in ``gap_seconds`` before, between and after them. The silences hold faint noise
    (standard deviation ``noise``) so that they look like a quiet room, not digital zeros."""
    pieces = []
    for recording in recordings:
        pieces += [_silence(rng, gap_seconds, noise), recording.samples]
    pieces.append(_silence(rng, gap_seconds, noise))
    return torch.cat(pieces), [r.digit for r in recordings]


def _silence(rng: random.Random, gap_seconds: tuple[float, float], noise: float) -> torch.Tensor:
    length = int(rng.uniform(*gap_seconds) * SAMPLE_RATE)
    generator = torch.Generator().manual_seed(rng.randrange(2**31))
    return noise * torch.randn(length, generator=generator)


def connected_utterances(recordings: Sequence[Recording], count: int, rng: random.Random,
                         min_digits: int = 2, max_digits: int = 7
                         ) -> list[tuple[torch.Tensor, list[int]]]:
    """``count`` utterances of ``min_digits``..``max_digits`` recordings of one speaker each
    (speaker and recordings drawn with ``rng``), joined by ``join_recordings``."""
    by_speaker: dict[str, list[Recording]] = {}
    for recording in recordings:
        by_speaker.setdefault(recording.speaker, []).append(recording)
    speakers = sorted(by_speaker)
    utterances = []
    for _ in range(count):
        pool = by_speaker[rng.choice(speakers)]
        chosen = [rng.choice(pool) for _ in range(rng.randint(min_digits, max_digits))]
        utterances.append(join_recordings(chosen, rng))
    return utterances


# --- Features and batches -----------------------------------------------------------------------

def features(samples: torch.Tensor) -> torch.Tensor:
    """The course's speech features (T, 40): log mel energies, normalised per utterance."""
    return audio.normalise(audio.log_mel(samples, SAMPLE_RATE))


def pad_batch(sequences: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(padded (B, T, M) with zeros after each sequence, lengths (B,)) of feature sequences."""
    lengths = torch.tensor([len(sequence) for sequence in sequences])
    return torch.nn.utils.rnn.pad_sequence(list(sequences), batch_first=True), lengths
