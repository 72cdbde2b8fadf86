"""The Free Spoken Digit Dataset: fetching it, its splits, and connected-digit utterances.

FSDD (Jackson et al.) is 3,000 recordings of the digits 0-9, 6 speakers x 10 digits x 50
takes, mono 16-bit PCM at 8 kHz, named ``{digit}_{speaker}_{take}.wav``.

**Fetching 3,000 small files.** The catalogue entry ``fsdd`` is the repository's archive at
the pinned commit (one request instead of 3,000 raw-file requests, which take minutes and are
rate-limited), every extracted file verified against one manifest checksum: see
``course_lib.corpora.archives``. Splits follow the dataset's README: takes 0-4 of every
speaker and digit are the test set; a second split holds one speaker out entirely.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from course_lib import audio, corpora
from course_lib.corpora import archives

SAMPLE_RATE = 8_000
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")


def recordings_dir(log: Callable[[str], None] = print) -> Path:
    """The verified folder of the recordings: the mirror's, the cache's, or a fresh download
    (``corpora.archives``: one archive, every file checked; ``log`` hears of a download).

    Every file is hashed each time (about 0.2 s for FSDD's 21 MB on the course machine). A
    cached copy that fails the check is deleted and downloaded again; a mirror that fails it
    is an error.
    """
    folder, _ = archives.resolve(corpora.CORPORA["fsdd"].archive, log)
    return folder / "recordings"


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
