"""Where and how the course's code runs: devices, seeds, threads, quick mode.

This is the only module that knows about CUDA, MPS and the CPU. Library code never stores a
device: it takes it from its inputs (``x.device``). A notebook calls ``get_device()`` once.
"""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

_KNOWN_DEVICES = ("cuda", "mps", "cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """The device types usable here, best first (a subset of ``cuda``, ``mps``, ``cpu``)."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    if _mps_available():
        found.append("mps")
    found.append("cpu")
    return found


def get_device(name: str | None = None) -> torch.device:
    """The device to compute on: ``name``, else ``$COURSE_DEVICE``, else cuda > mps > cpu.

    Asking for a device type that this machine does not have raises a ``RuntimeError``
    that lists the ones it does have. Under ``torchrun`` a CUDA device is the process's own
    GPU, ``cuda:$LOCAL_RANK``.
    """
    requested = name or os.environ.get("COURSE_DEVICE") or None
    if requested is None:
        best = available_devices()[0]
        if best == "cuda" and "LOCAL_RANK" in os.environ:
            return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        return torch.device(best)
    kind = requested.split(":")[0].strip().lower()
    if kind not in _KNOWN_DEVICES:
        raise ValueError(
            f"Unknown device {requested!r}: use one of {', '.join(_KNOWN_DEVICES)} "
            "(set COURSE_DEVICE, or pass name=...)."
        )
    if kind not in available_devices():
        raise RuntimeError(
            f"Device {requested!r} was asked for (COURSE_DEVICE or name=) but is not available "
            f"here; available: {', '.join(available_devices())}. Unset COURSE_DEVICE to pick "
            "the best one automatically."
        )
    return torch.device(requested.strip().lower())


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators (every CUDA device too)."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def cpu_has_native_bf16() -> bool:
    """True when this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX), so that
    bfloat16 autocast makes matrix products faster instead of slower."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def autocast(device: torch.device | str, enabled: bool = True, cpu: bool = False):
    """Mixed precision where it helps: bfloat16 autocast on CUDA devices that support it.

    On MPS, on the CPU (or with ``enabled=False``) this is a no-op context, so the same
    training loop runs everywhere and CPU results stay exact float32. ``cpu=True`` opts the
    CPU in too, where it has native bfloat16 (``cpu_has_native_bf16``): matrix products then
    run in bfloat16 (about 1.5x faster for the course's translation models on such a CPU),
    the weights and the optimizer stay float32.
    """
    device = torch.device(device)
    # Native bfloat16 only (Ampere+): on older GPUs (T4, V100) it is emulated and slow.
    if enabled and device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False):
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    if enabled and cpu and device.type == "cpu" and cpu_has_native_bf16():
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def quick_mode() -> bool:
    """True when ``COURSE_QUICK=1``: notebooks then shrink data and training to about a minute."""
    value = os.environ.get("COURSE_QUICK", "0").strip().lower()
    if value not in {"0", "1", "true", "false", "yes", "no", ""}:
        raise ValueError(f"COURSE_QUICK must be 0 or 1, got {value!r}")
    return value in {"1", "true", "yes"}


def describe(device: torch.device | str | None = None) -> str:
    """One line for a notebook's setup cell: torch version, device and CPU threads."""
    device = torch.device(device) if device is not None else get_device()
    line = f"torch {torch.__version__} | device {device}"
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        line += f" ({torch.cuda.get_device_name(index)})"
    return line + f" | {torch.get_num_threads()} CPU threads"
