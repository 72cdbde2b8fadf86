"""Audio in, features out: WAV files, log-mel filterbank energies and MFCCs, in plain torch.

The recipe is the classic one (and ``python_speech_features``' conventions, which the tests
check against exactly): pre-emphasis, 25 ms frames every 10 ms with a Hamming window, the
power spectrum of each frame, triangular filters equally spaced on the mel scale, a log; the
MFCCs are the first coefficients of the log energies' DCT, "liftered". Shapes: N samples,
T frames, F = n_fft // 2 + 1 frequency bins, M mel filters, C cepstral coefficients.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import torch


def read_wav(path: str | Path) -> tuple[torch.Tensor, int]:
    """(samples (N,) float32 in [-1, 1), sample rate) of a mono 16-bit PCM WAV file."""
    with wave.open(str(path), "rb") as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
            raise ValueError(f"{path}: expected mono 16-bit PCM, got {wav.getnchannels()} channel(s) "
                             f"of {8 * wav.getsampwidth()} bits; convert it first (e.g. with sox).")
        raw = wav.readframes(wav.getnframes())
        rate = wav.getframerate()
    samples = torch.frombuffer(bytearray(raw), dtype=torch.int16).to(torch.float32)
    return samples / 32768.0, rate


def preemphasis(signal: torch.Tensor, coefficient: float = 0.97) -> torch.Tensor:
    """y[n] = x[n] - coefficient * x[n - 1] (y[0] = x[0]): boosts high frequencies."""
    return torch.cat([signal[:1], signal[1:] - coefficient * signal[:-1]])


def frame_signal(signal: torch.Tensor, frame_length: int, hop_length: int) -> torch.Tensor:
    """Overlapping frames (T, frame_length), one every ``hop_length`` samples. The end is padded
    with zeros so that the last samples are in a frame: T = 1 + ceil((N - frame_length) / hop)."""
    if signal.dim() != 1 or len(signal) == 0:
        raise ValueError(f"frame_signal needs a non-empty 1-D signal, got shape {tuple(signal.shape)}")
    num_frames = 1 + max(0, math.ceil((len(signal) - frame_length) / hop_length))
    padded_length = (num_frames - 1) * hop_length + frame_length
    padded = torch.nn.functional.pad(signal, (0, padded_length - len(signal)))
    return padded.unfold(0, frame_length, hop_length)  # (T, frame_length)


def power_spectrum(frames: torch.Tensor, n_fft: int) -> torch.Tensor:
    """|FFT|^2 / n_fft of each frame, zero-padded to ``n_fft`` points: (T, n_fft // 2 + 1)."""
    return torch.fft.rfft(frames, n=n_fft).abs() ** 2 / n_fft


def hz_to_mel(hz):
    """The (HTK) mel scale: 2595 log10(1 + f / 700); roughly linear below 1 kHz, log above."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(hz, dtype=torch.float64) / 700.0)


def mel_to_hz(mel):
    """The inverse of ``hz_to_mel``."""
    return 700.0 * (10.0 ** (torch.as_tensor(mel, dtype=torch.float64) / 2595.0) - 1.0)


def mel_filterbank(num_filters: int, n_fft: int, sample_rate: int, low_hz: float = 0.0,
                   high_hz: float | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Triangular filters (M, n_fft // 2 + 1): filter m rises from FFT bin b[m] to b[m + 1] and
    falls to b[m + 2], where the M + 2 edges are equally spaced in mels between ``low_hz`` and
    ``high_hz`` (default: half the sample rate) and rounded down to FFT bins."""
    high_hz = sample_rate / 2 if high_hz is None else high_hz
    if not 0 <= low_hz < high_hz <= sample_rate / 2:
        raise ValueError(f"need 0 <= low_hz < high_hz <= sample_rate / 2 = {sample_rate / 2}, "
                         f"got low_hz={low_hz}, high_hz={high_hz}")
    edges_mel = torch.linspace(float(hz_to_mel(low_hz)), float(hz_to_mel(high_hz)), num_filters + 2,
                               dtype=torch.float64)
    bins = torch.floor((n_fft + 1) * mel_to_hz(edges_mel) / sample_rate)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[None, :]  # (1, F)
    left, centre, right = bins[:-2, None], bins[1:-1, None], bins[2:, None]  # (M, 1) each
    rising = (k - left) / (centre - left).clamp(min=1)
    falling = (right - k) / (right - centre).clamp(min=1)
    filters = torch.where((k >= left) & (k < centre), rising,
                          torch.where((k >= centre) & (k < right), falling, 0.0))
    if (filters.sum(dim=1) == 0).any():
        raise ValueError(f"{num_filters} mel filters are too many for n_fft={n_fft}: some cover no FFT "
                         "bin. Use fewer filters or a larger n_fft.")
    return filters.to(dtype)


def log_mel(signal: torch.Tensor, sample_rate: int, num_filters: int = 40, frame_ms: float = 25.0,
            hop_ms: float = 10.0, n_fft: int = 512, preemphasis_coefficient: float = 0.97) -> torch.Tensor:
    """Log mel filterbank energies (T, M) of a mono signal (N,)."""
    frame_length = int(round(frame_ms * sample_rate / 1000))
    hop_length = int(round(hop_ms * sample_rate / 1000))
    if frame_length > n_fft:
        raise ValueError(f"a {frame_ms} ms frame is {frame_length} samples, more than n_fft={n_fft}; "
                         "raise n_fft.")
    frames = frame_signal(preemphasis(signal, preemphasis_coefficient), frame_length, hop_length)
    window = torch.hamming_window(frame_length, periodic=False, dtype=signal.dtype)
    power = power_spectrum(frames * window, n_fft)  # (T, F)
    filters = mel_filterbank(num_filters, n_fft, sample_rate, dtype=signal.dtype)  # (M, F)
    energies = power @ filters.T  # (T, M)
    return torch.log(energies.clamp(min=torch.finfo(signal.dtype).eps))


def dct_matrix(size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The orthonormal DCT-II as a (size, size) matrix: ``x @ dct_matrix(n).T`` transforms rows."""
    n = torch.arange(size, dtype=torch.float64)
    matrix = torch.cos(math.pi / size * (n[None, :] + 0.5) * n[:, None]) * math.sqrt(2.0 / size)
    matrix[0] /= math.sqrt(2.0)
    return matrix.to(dtype)


def mfcc(log_energies: torch.Tensor, num_ceps: int = 13, lifter: int = 22) -> torch.Tensor:
    """MFCCs (T, C) from log mel energies (T, M): the first C DCT coefficients, each scaled by
    1 + (lifter / 2) sin(pi c / lifter) (no scaling when ``lifter`` is 0)."""
    num_filters = log_energies.shape[-1]
    if not 1 <= num_ceps <= num_filters:
        raise ValueError(f"num_ceps must be in 1..{num_filters} (the number of filters), got {num_ceps}")
    ceps = log_energies @ dct_matrix(num_filters, log_energies.dtype)[:num_ceps].T  # (T, C)
    if lifter > 0:
        c = torch.arange(num_ceps, dtype=log_energies.dtype)
        ceps = ceps * (1 + lifter / 2 * torch.sin(math.pi * c / lifter))
    return ceps


def normalise(features: torch.Tensor) -> torch.Tensor:
    """Each feature of one utterance (T, M) shifted to mean 0 and scaled to standard deviation 1
    over its frames (cepstral mean and variance normalisation): removes the microphone's and the
    speaker's constant colouring."""
    mean = features.mean(dim=0, keepdim=True)
    std = features.std(dim=0, keepdim=True, unbiased=False).clamp(min=1e-5)
    return (features - mean) / std
