"""Devices, seeds, quick mode: the environment knobs every notebook's setup cell uses."""

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib import device as device_module
from course_lib.device import (
    autocast,
    cpu_has_native_bf16,
    describe,
    get_device,
    quick_mode,
    seed_everything,
)


def test_course_device_cpu_is_honoured(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_an_explicit_name_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "tpu")
    assert get_device("cpu") == torch.device("cpu")


def test_a_missing_device_raises_and_lists_the_available_ones(monkeypatch):
    monkeypatch.setattr(device_module, "available_devices", lambda: ["cpu"])
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="available: cpu"):
        get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_raises_runtime_error(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="not available here"):
        get_device()


def test_an_unknown_device_type_raises_value_error(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "tpu")
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        get_device()


def test_without_a_request_the_best_available_device_is_chosen(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert get_device().type == device_module.available_devices()[0]
    assert device_module.available_devices()[-1] == "cpu"


def draws():
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_seed_everything_reproduces_python_numpy_and_torch_draws():
    seed_everything(7)
    first = draws()
    seed_everything(7)
    assert draws() == first
    seed_everything(8)
    assert draws() != first


@pytest.mark.parametrize("seed", [-1, 1.5, "0"])
def test_seed_everything_refuses_bad_seeds(seed):
    with pytest.raises(ValueError):
        seed_everything(seed)


@pytest.mark.parametrize(
    "value, expected",
    [("1", True), ("true", True), ("YES", True), (" 1 ", True), ("0", False), ("", False),
     ("no", False)],
)
def test_quick_mode_parsing(monkeypatch, value, expected):
    monkeypatch.setenv("COURSE_QUICK", value)
    assert quick_mode() is expected


def test_quick_mode_is_off_when_unset_and_refuses_nonsense(monkeypatch):
    monkeypatch.delenv("COURSE_QUICK", raising=False)
    assert quick_mode() is False
    monkeypatch.setenv("COURSE_QUICK", "2")
    with pytest.raises(ValueError, match="COURSE_QUICK"):
        quick_mode()


def test_autocast_on_cpu_is_a_no_op():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast("cpu"):
        product = a @ b
    assert product.dtype == torch.float32
    assert torch.equal(product, a @ b)


@pytest.mark.parametrize("native", [True, False])
def test_cpu_autocast_is_opt_in_and_only_with_native_bfloat16(monkeypatch, native):
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: native)
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast("cpu", cpu=True):
        opted_in = a @ b
    with autocast("cpu", cpu=True, enabled=False):
        disabled = a @ b
    assert opted_in.dtype == (torch.bfloat16 if native else torch.float32)
    assert disabled.dtype == torch.float32
    if native:  # the same product, rounded to bfloat16's 8 bits of mantissa
        torch.testing.assert_close(opted_in.float(), a @ b, atol=0.1, rtol=0.02)


@pytest.mark.parametrize("avx512_bf16, amx_tile, native", [
    (False, False, False), (True, False, True), (False, True, True), (True, True, True)])
def test_cpu_has_native_bf16_when_either_instruction_set_is_there(monkeypatch, avx512_bf16,
                                                                  amx_tile, native):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx_tile)
    assert cpu_has_native_bf16() is native


def test_cpu_has_native_bf16_is_false_on_a_torch_without_the_checks(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert cpu_has_native_bf16() is False


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="reads Linux's /proc/cpuinfo")
def test_cpu_has_native_bf16_agrees_with_the_kernels_cpu_flags():
    flags_line = next(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags"))
    flags = set(flags_line.split(":", 1)[1].split())
    assert cpu_has_native_bf16() == bool(flags & {"avx512_bf16", "amx_tile"})


def test_describe_names_the_device_and_torch():
    line = describe("cpu")
    assert "device cpu" in line and torch.__version__ in line and "CPU threads" in line
