import random

import numpy as np
import pytest
import torch

from genlib import device


def test_scale_follows_hardware_and_env(monkeypatch):
    monkeypatch.delenv("GENLIB_SCALE", raising=False)
    assert device.scale() == ("gpu-full" if torch.cuda.is_available() else "cpu-small")
    monkeypatch.setenv("GENLIB_SCALE", "gpu-full")
    assert device.scale() == "gpu-full"
    assert device.pick(1, 2) == 2
    monkeypatch.setenv("GENLIB_SCALE", "cpu-small")
    assert device.pick(1, 2) == 1


def test_unknown_scale_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("GENLIB_SCALE", "huge")
    with pytest.raises(ValueError, match="GENLIB_SCALE='huge'.*cpu-small"):
        device.scale()


def test_get_device(monkeypatch):
    monkeypatch.delenv("GENLIB_DEVICE", raising=False)
    assert device.get_device("cpu") == torch.device("cpu")
    assert device.get_device().type in device.DEVICE_KINDS
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        device.get_device("tpu")
    monkeypatch.setenv("GENLIB_DEVICE", "cpu")
    assert device.get_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_missing_cuda_says_so():
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        device.get_device("cuda")


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)
    device.seed_everything(7)
    a = draw()
    device.seed_everything(7)
    b = draw()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    device.seed_everything(8)
    assert draw()[0] != a[0]
    with pytest.raises(ValueError):
        device.seed_everything(-1)


@pytest.mark.parametrize("threads, cores, load, free", [
    (2, 2, 1.2, 1),        # a background job holds one of two cores: 2 threads are one too many
    (16, 16, 9.6, 6),
    (4, 2, None, 2),       # no load average (Windows): more threads than cores is still too many
])
def test_oversubscription_warning_names_the_free_cores_and_the_fix(threads, cores, load, free):
    warning = device.oversubscription_warning(threads, cores, load)
    assert f"{threads} CPU threads but only {free} of {cores} cores are free" in warning
    assert f"OMP_NUM_THREADS={free}" in warning and f"torch.set_num_threads({free})" in warning
    assert "\n" not in warning


@pytest.mark.parametrize("threads, cores, load", [(1, 2, 1.2), (2, 2, 0.3), (1, 1, 5.0), (8, 16, 7.0), (4, 4, None)])
def test_no_warning_when_threads_fit_the_free_cores(threads, cores, load):
    assert device.oversubscription_warning(threads, cores, load) is None


def test_describe_adds_the_warning_line_only_when_oversubscribed(monkeypatch):
    monkeypatch.setattr(device, "_free_core_inputs", lambda: (2, 1.9))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    lines = device.describe().splitlines()
    assert len(lines) == 2 and "2 CPU threads" in lines[0] and lines[1].startswith("warning: torch uses 2")
    monkeypatch.setattr(device, "_free_core_inputs", lambda: (2, 0.0))
    assert len(device.describe().splitlines()) == 1
