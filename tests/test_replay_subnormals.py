"""Both runs of a replay train with subnormals flushed to zero, and the caller's mode is restored."""

import torch

from workloads import train

SUBNORMAL = 1e-40  # below float32's smallest normal, 1.18e-38


def _product() -> float:
    return float(torch.tensor([SUBNORMAL], dtype=torch.float32) * torch.tensor([1.0]))


def test_subnormals_flushed_inside_and_kept_after():
    assert _product() > 0.0
    with train.subnormals_flushed() as supported:
        inside = _product()
    if supported:
        assert inside == 0.0
    assert _product() > 0.0


def test_subnormals_restored_after_an_error():
    try:
        with train.subnormals_flushed():
            raise RuntimeError("stop")
    except RuntimeError:
        pass
    assert _product() > 0.0
