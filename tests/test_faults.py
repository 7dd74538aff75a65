"""Error model, number formats, sparse flip sampling and hook-based injection (workloads.faults)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from models.errors import UserError
from workloads import faults
from workloads.faults import FORMATS, Injector, sample_flips

ROW = dict(layer="conv1", tensor_class="activation", memory="spm_act", bits_written=1000, bits_read=4000,
           switch_fraction=0.5, mean_residence_ns=1e4, p_write_p2ap=1e-3, p_write_ap2p=3e-3,
           p_read_disturb=1e-4, p_retention=1e-5)


def _naive_odd(events: list[float]) -> float:
    """P(odd number of events) by dynamic programming over independent events."""
    odd = 0.0
    for p in events:
        odd = odd * (1 - p) + (1 - odd) * p
    return odd


# ---------------------------------------------------------------- error model


def test_record_probability_matches_naive_parity():
    p_write = 0.5 * 0.5 * (1e-3 + 3e-3)  # switching bits, half in each direction
    events = [p_write] + [1e-4] * 4 + [1e-5]  # four reads per written bit
    assert faults.record_bit_error_probability(ROW) == pytest.approx(_naive_odd(events), rel=1e-12)


def test_write_errors_only_for_switching_bits_and_sram_is_error_free():
    assert faults.record_bit_error_probability({**ROW, "switch_fraction": 0.0, "p_read_disturb": 0.0,
                                                "p_retention": 0.0}) == 0.0
    sram = {**ROW, "p_write_p2ap": 0.0, "p_write_ap2p": 0.0, "p_read_disturb": 0.0, "p_retention": 0.0}
    assert faults.record_bit_error_probability(sram) == 0.0
    only_reads = {**ROW, "switch_fraction": 0.0, "p_retention": 0.0, "bits_written": 0}
    assert faults.record_bit_error_probability(only_reads) == pytest.approx(1e-4)


def test_rows_of_one_layer_and_class_combine_in_series():
    acc = {**ROW, "memory": "accumulator", "p_retention": 2e-5}
    other = {**ROW, "layer": "fc", "tensor_class": "weight"}
    probs = faults.bit_error_probabilities([ROW, acc, other])
    p1, p2 = faults.record_bit_error_probability(ROW), faults.record_bit_error_probability(acc)
    assert probs[("conv1", "activation")] == pytest.approx(_naive_odd([p1, p2]), rel=1e-12)
    assert probs[("fc", "weight")] == pytest.approx(p1)


@pytest.mark.parametrize("bad, message", [({"p_retention": 1.5}, "p_retention = 1.5"),
                                          ({"bits_read": -1}, "bits_read = -1")])
def test_bad_records_are_user_errors(bad, message):
    with pytest.raises(UserError, match=message):
        faults.bit_error_probabilities([{**ROW, **bad}], source="run.h5: /errors")
    row = dict(ROW)
    del row["switch_fraction"]
    with pytest.raises(UserError, match="run.h5: /errors row 0: missing field 'switch_fraction'"):
        faults.bit_error_probabilities([row], source="run.h5: /errors")


def test_class_and_ber_parsing():
    assert faults.parse_classes("weight, activation,weight") == ("weight", "activation")
    with pytest.raises(UserError, match="unknown tensor class 'weights'"):
        faults.parse_classes("activation,weights")
    assert faults.parse_ber(["weight=1e-5", "error=0"]) == {"weight": 1e-5, "error": 0.0}
    for bad in ("weight", "bogus=1e-3", "weight=2", "weight=abc"):
        with pytest.raises(UserError, match=f"--ber {bad}"):
            faults.parse_ber([bad])


def test_resolve_overrides_apply_to_every_layer_and_need_the_class_injected():
    ledger = {("a", "weight"): 1e-6, ("a", "activation"): 1e-7, ("b", "activation"): 0.0}
    got = faults.resolve_probabilities(ledger, ["a", "b"], ["activation", "weight"], {"activation": 1e-3})
    assert got == {("a", "activation"): 1e-3, ("b", "activation"): 1e-3, ("a", "weight"): 1e-6}
    assert faults.resolve_probabilities(ledger, ["a", "b"], ["weight"], {}) == {("a", "weight"): 1e-6}
    with pytest.raises(UserError, match="error is not in --inject"):
        faults.resolve_probabilities(ledger, ["a"], ["weight"], {"error": 1e-3})


# ---------------------------------------------------------------- formats and sampling


def _bf16_codes(x: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even of float32 to bfloat16, as uint16 codes (x finite)."""
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def _naive_store(name: str, x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Reference: encode with numpy, flip one bit at a time in a Python loop, decode."""
    if name == "bf16":
        codes = _bf16_codes(x)
    elif name == "fp16":
        codes = x.astype(np.float16).view(np.uint16)
    elif name == "fp32":
        codes = x.astype(np.float32).view(np.uint32).copy()
    elif name == "fx16":  # Q3.12, saturating
        codes = np.clip(np.round(x * 4096.0), -32768, 32767).astype(np.int16).view(np.uint16)
    else:
        scale = np.float32(np.abs(x).max() / 127.0)
        codes = np.clip(np.round(x / scale), -127, 127).astype(np.int8).view(np.uint8)
    codes = codes.copy()
    bits = FORMATS[name].bits
    for pos in positions:
        element, bit = divmod(int(pos), bits)
        codes[element] ^= codes.dtype.type(1 << bit)
    if name == "bf16":
        return (codes.astype(np.uint32) << 16).view(np.float32)
    if name == "fp16":
        return codes.view(np.float16).astype(np.float32)
    if name == "fp32":
        return codes.view(np.float32)
    if name == "fx16":
        return codes.view(np.int16).astype(np.float32) / np.float32(4096.0)
    return codes.view(np.int8).astype(np.float32) * scale


@pytest.mark.parametrize("name", list(FORMATS))
def test_flips_change_only_the_formats_bits_and_match_a_naive_reference(name):
    rng = np.random.default_rng(1)
    x = rng.normal(size=20_000).astype(np.float32) * 3
    bits = FORMATS[name].bits
    plan = sample_flips(np.random.default_rng(7), x.size, bits, 2e-3)
    positions = [int(e) * bits + b for e, m in zip(plan.elements, plan.masks) for b in range(bits) if int(m) >> b & 1]
    got = FORMATS[name].store(torch.from_numpy(x), plan).numpy()
    want = _naive_store(name, x, positions)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(got[ok].view(np.uint32), want[ok].view(np.uint32))
    assert plan.count == len(positions) and plan.count > 0


def test_bf16_flips_never_touch_the_low_fp32_half():
    x = torch.randn(50_000)
    plan = sample_flips(np.random.default_rng(3), x.numel(), 16, 1e-2)
    stored = FORMATS["bf16"].store(x, plan)
    clean = FORMATS["bf16"].store(x, None)
    codes, ref = stored.view(torch.int32).numpy(), clean.view(torch.int32).numpy()
    assert not np.any(codes & 0xFFFF)
    diff = (codes ^ ref).view(np.uint32)
    assert int(sum(bin(int(v)).count("1") for v in diff[diff != 0])) == plan.count


@pytest.mark.parametrize("p", [1e-5, 1e-3, 0.05])
def test_flip_count_matches_requested_rate(p):
    """Observed flipped bits over many stores vs numel*bits*p, within 5 standard deviations."""
    rng = np.random.default_rng(11)
    x = torch.randn(4096)
    flipped, total = 0, 0
    for _ in range(200):
        plan = sample_flips(rng, x.numel(), 32, p)
        stored = FORMATS["fp32"].store(x, plan)
        diff = (stored.view(torch.int32) ^ x.view(torch.int32)).numpy().view(np.uint32)
        flipped += int(np.unpackbits(diff.view(np.uint8)).sum())
        total += x.numel() * 32
    expected = total * p
    assert abs(flipped - expected) <= 5 * math.sqrt(expected * (1 - p)) + 1


def test_flip_positions_spread_over_all_bits():
    """Chi-square of the flipped bit index over 16 bf16 bits (99.9% quantile of chi2(15) is 37.7)."""
    plan = sample_flips(np.random.default_rng(5), 100_000, 16, 1e-2)
    counts = np.zeros(16)
    for mask in plan.masks:
        for b in range(16):
            counts[b] += (int(mask) >> b) & 1
    expected = plan.count / 16
    assert ((counts - expected) ** 2 / expected).sum() < 37.7


def test_zero_probability_leaves_tensors_bit_identical():
    x = torch.randn(1000)
    assert sample_flips(np.random.default_rng(0), x.numel(), 16, 0.0) is None
    for name, fmt in FORMATS.items():
        inj = Injector(fmt, {("fc", "weight"): 0.0}, np.random.default_rng(0))
        stored = inj.store(x, "fc", "weight")
        assert torch.equal(stored.view(torch.int32), fmt.store(x, None).view(torch.int32))
        assert sum(inj.flips.values()) == 0
    assert Injector(FORMATS["fp32"], {}, np.random.default_rng(0)).store(x, "fc", "weight") is x


def test_int8_keeps_values_on_the_scale_grid():
    x = torch.randn(10_000)
    plan = sample_flips(np.random.default_rng(2), x.numel(), 8, 1e-2)
    stored = FORMATS["int8"].store(x, plan)
    scale = float(x.abs().max()) / 127
    q = stored / scale
    assert torch.allclose(q, q.round(), atol=1e-3) and q.min() >= -128.01 and q.max() <= 127.01
    diverged = torch.tensor([1.0, float("inf"), -2.0])
    assert torch.equal(FORMATS["int8"].store(diverged, None), diverged)  # no int8 code for Inf: kept


def test_unknown_format_is_a_user_error():
    with pytest.raises(UserError, match="--format fp8: unknown number format"):
        faults.storage_format("fp8")


# ---------------------------------------------------------------- injection in a model


class _Square(nn.Module):
    def forward(self, x):
        return x * x  # autograd saves x twice


def _net(inplace: bool = False) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=inplace),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 32), _Square(), nn.Linear(32, 3))


def _step(model, injector, x):
    with injector.attached(model):
        with injector.stashing():
            out = model(x)
        out.square().sum().backward()
        injector.end_step()
    return out


def test_stash_corrupts_float_activations_once_and_skips_params_indices_and_statistics():
    model = _net()
    probs = {(name, "activation"): 0.5 for name in ("1", "2", "3", "6")}
    inj = Injector(FORMATS["fp32"], probs, np.random.default_rng(0))
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    pack = inj._pack

    def spy(t):
        out = pack(t)
        seen.append((t, out))
        return out

    inj._pack = spy
    params = {p.data_ptr() for p in model.parameters()} | {b.data_ptr() for b in model.buffers()}
    _step(model, inj, torch.randn(8, 1, 8, 8))
    replaced = [t for t, out in seen if out is not t]
    assert replaced, "no stashed activation was corrupted"
    for t in replaced:
        assert t.is_floating_point() and t.shape[0] == 8 and t.data_ptr() not in params
    assert not any(out is not t for t, out in seen
                   if not t.is_floating_point() or t.data_ptr() in params or t.dim() == 1)
    square_in = [out for t, out in seen if out is not t and tuple(t.shape) == (8, 32)]
    assert len(square_in) == 2 and square_in[0] is square_in[1], "a tensor saved twice must be stored once"


def test_activation_flip_rate_counts_outputs_and_stash():
    """Square's activation bits per step: its output and its input saved once, 16 bits each (bf16)."""
    model = _net()
    p = 1e-3
    inj = Injector(FORMATS["bf16"], {("6", "activation"): p}, np.random.default_rng(1))
    x = torch.randn(256, 1, 8, 8)
    steps = 20
    for _ in range(steps):
        _step(model, inj, x)
    expected = steps * 2 * 256 * 32 * 16 * p
    assert abs(inj.flips["activation"] - expected) <= 5 * math.sqrt(expected)


@pytest.mark.parametrize("inplace", [False, True])
def test_errors_are_injected_by_tensor_hooks_even_with_inplace_relu(inplace):
    x = torch.randn(16, 1, 8, 8)
    clean, hurt = _net(inplace), _net(inplace)
    out_clean = _step(clean, Injector(FORMATS["fp32"], {}, np.random.default_rng(0)), x)
    inj = Injector(FORMATS["fp32"], {("2", "error"): 0.05}, np.random.default_rng(0))
    out_hurt = _step(hurt, inj, x)
    assert torch.equal(out_clean, out_hurt)  # errors do not touch the forward pass
    assert inj.flips["error"] > 0
    assert not torch.equal(clean[0].weight.grad, hurt[0].weight.grad)  # upstream of relu "2"
    assert torch.equal(clean[7].weight.grad, hurt[7].weight.grad)  # downstream of it


def test_weights_gradients_and_state_are_stored_per_layer_and_weight_errors_persist():
    model = _net()
    params = faults.parameter_layers(model)
    assert ("5", model[5].weight) in params
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    inj = Injector(FORMATS["bf16"], {("5", "weight"): 0.05, ("7", "weight_gradient"): 0.05,
                                     ("0", "optimizer_state"): 0.05}, np.random.default_rng(0))
    _step(model, inj, torch.randn(4, 1, 8, 8))
    grad_before = model[7].weight.grad.clone()
    inj.store_weight_gradients(params)
    assert not torch.equal(grad_before, model[7].weight.grad)
    opt.step()
    before = model[5].weight.detach().clone()
    inj.store_weights(params)
    corrupted = model[5].weight.detach().clone()
    assert not torch.equal(before.to(torch.bfloat16).float(), corrupted)
    momentum = opt.state[model[0].weight]["momentum_buffer"].clone()
    inj.store_optimizer_state(params, opt)
    assert not torch.equal(momentum.to(torch.bfloat16).float(), opt.state[model[0].weight]["momentum_buffer"])
    Injector(FORMATS["bf16"], {}, np.random.default_rng(0)).store_weights(params)
    assert torch.allclose(model[5].weight.detach(), corrupted, rtol=0, atol=0, equal_nan=True)  # flips stay
    assert inj.flips["weight"] and inj.flips["weight_gradient"] and inj.flips["optimizer_state"]


def test_exponent_flips_to_inf_are_logged_with_class_and_layer():
    inj = Injector(FORMATS["bf16"], {("fc", "weight"): 0.2}, np.random.default_rng(0))
    inj.store(torch.full((1000,), 1.5), "fc", "weight")  # exponent 127: one flip away from Inf/NaN
    assert inj.extreme and inj.extreme[0].tensor_class == "weight" and inj.extreme[0].layer == "fc"
