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


def test_train_run_trains_with_subnormals_flushed(monkeypatch):
    from workloads import data
    seen = []

    def step(*args):
        seen.append(_product() == 0.0)
        return original(*args)

    original = train.train_step
    monkeypatch.setattr(train, "train_step", step)
    settings = train.TrainSettings(model="tiny_mlp", epochs=1, max_batches=2, batch_size=32)
    train.train_run(settings, data.load_digits(), {}, "baseline")
    supported = train.torch.set_flush_denormal(False)
    assert seen == [supported, supported]
    assert _product() > 0.0
