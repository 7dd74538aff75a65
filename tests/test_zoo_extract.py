import math
from functools import cache
from pathlib import Path

import pytest
import torch
from torch import nn

from models.errors import UserError
from workloads import zoo
from workloads.extract import DEFAULT_OUT, extract, main, trace_model
from workloads.layers import load_trace, save_trace

TRACES = Path(__file__).resolve().parent.parent / "traces" / "layers"
# small input sizes each model accepts (VGG-16 needs 32, AlexNet 63)
SMALL_INPUT = {"vgg16": 32, "alexnet": 63, "bert_encoder": 16}


@cache
def fresh(name: str):
    return extract(name)


def by_name(trace):
    return {layer.name: layer for layer in trace.layers}


def test_resnet18_standard_shapes_and_parameter_count():
    trace = fresh("resnet18")
    convs = [layer for layer in trace.layers if layer.kind == "conv"]
    linears = [layer for layer in trace.layers if layer.kind == "linear"]
    assert (len(convs), len(linears)) == (20, 1)
    layers = by_name(trace)
    conv1 = layers["conv1"]
    assert (conv1.cin, conv1.cout, conv1.kh, conv1.kw, conv1.stride, conv1.padding) == (3, 64, 7, 7, 2, 3)
    assert (conv1.h, conv1.w, conv1.ho, conv1.wo) == (224, 224, 112, 112)
    assert layers["maxpool"].out_shape == (64, 56, 56)
    for layer in convs:
        if layer.name.startswith("layer4."):
            assert layer.cout == 512 and (layer.ho, layer.wo) == (7, 7)
    down = layers["layer3.0.downsample.0"]
    assert (down.cin, down.cout, down.kh, down.stride, down.padding, down.ho) == (128, 256, 1, 2, 0, 14)
    fc = layers["fc"]
    assert (fc.cin, fc.cout, fc.rows, fc.inputs) == (512, 1000, 1, ("avgpool",))
    assert sum(layer.weight_elems for layer in trace.layers) == 11_689_512
    assert sum(layer.kind == "batchnorm" for layer in trace.layers) == 20
    assert trace.input_shape == (3, 224, 224)
    loss = trace.layers[-1]
    assert (loss.name, loss.kind, loss.inputs, loss.in_shape) == ("loss", "softmax", ("fc",), (1000,))


def test_mobilenet_v2_depthwise_convs():
    trace = fresh("mobilenet_v2")
    depthwise = [layer for layer in trace.layers if layer.kind == "conv" and layer.groups > 1]
    assert len(depthwise) == 17
    for layer in depthwise:
        assert layer.groups == layer.cin == layer.cout and (layer.kh, layer.kw) == (3, 3)
        assert layer.gemm_mkn() == (layer.ho * layer.wo, 9, 1, layer.cin)
    assert sum(layer.weight_elems for layer in trace.layers) == 3_504_872
    assert by_name(trace)["features.18.2"].kind == "relu"  # ReLU6 counts as relu
    assert sum(layer.kind == "add" for layer in trace.layers) == 10


def test_bert_encoder_attention_matmuls():
    trace = fresh("bert_encoder")
    layers = by_name(trace)
    scores, context = layers["attn.scores"], layers["attn.context"]
    assert (scores.kind, scores.m, scores.k, scores.n, scores.heads) == ("matmul", 128, 64, 128, 12)
    assert scores.inputs == ("attn.query", "attn.key")
    assert (context.m, context.k, context.n, context.heads) == (128, 128, 64, 12)
    assert context.inputs == ("attn.softmax", "attn.value")
    assert layers["attn.softmax"].inputs == ("attn.scores",)
    assert layers["attn.out"].inputs == ("attn.context",)
    assert (layers["ffn.fc1"].rows, layers["ffn.fc1"].cin, layers["ffn.fc1"].cout) == (128, 768, 3072)
    assert layers["ffn.gelu"].kind == "gelu" and layers["ffn.norm"].kind == "layernorm"
    assert layers["attn.add"].inputs == ("attn.out", "input")
    assert layers["ffn.add"].inputs == ("ffn.fc2", "attn.norm")
    assert sum(layer.weight_elems for layer in trace.layers) == 7_087_872
    assert trace.layers[-1].name == "ffn.norm"  # no classifier, no loss layer


def test_residual_adds_read_block_output_and_block_input():
    trace = fresh("resnet18")
    layers = by_name(trace)
    blocks = sorted({layer.name.rsplit(".", 1)[0] for layer in trace.layers if layer.name.startswith("layer")
                     and ".downsample" not in layer.name})
    assert len(blocks) == 8
    for block in blocks:
        add = layers[f"{block}.add"]
        block_input = layers[f"{block}.conv1"].inputs[0]
        shortcut = f"{block}.downsample.1" if f"{block}.downsample.0" in layers else block_input
        assert add.inputs == (f"{block}.bn2", shortcut)
        if shortcut != block_input:
            assert layers[f"{block}.downsample.0"].inputs == (block_input,)
    mobilenet = by_name(fresh("mobilenet_v2"))
    for layer in mobilenet.values():
        if layer.kind == "add":
            block = layer.name.rsplit(".", 1)[0]
            assert layer.inputs == (mobilenet[f"{block}.conv.0.0"].inputs[0], f"{block}.conv.3")


def operand_elems(layer):
    if layer.kind == "matmul":
        return [layer.heads * layer.m * layer.k, layer.heads * layer.k * layer.n]
    return [layer.in_elems] * len(layer.inputs)


@pytest.mark.parametrize("name", list(zoo.MODELS))
def test_committed_trace_equals_fresh_extraction_and_graph_is_consistent(name):
    committed, trace = load_trace(TRACES / f"{name}.yaml"), fresh(name)
    assert committed.workload == trace.workload == name
    assert committed.input_shape == trace.input_shape
    assert committed.layers == trace.layers, f"traces/layers/{name}.yaml is stale: run python -m workloads.extract"
    with torch.device("meta"):
        model = zoo.build(name)
    assert sum(layer.weight_elems for layer in trace.layers) == sum(p.numel() for p in model.parameters())
    out_elems = {"input": math.prod(trace.input_shape)}
    for layer in trace.layers:
        # every operand is produced earlier with the element count the layer reads (views pass through)
        assert [out_elems[src] for src in layer.inputs] == operand_elems(layer), layer.name
        out_elems[layer.name] = layer.out_elems


@pytest.mark.parametrize("name", list(zoo.MODELS))
def test_names_do_not_depend_on_width_or_input_size(name):
    small = {"width": 0.125, "input_size": SMALL_INPUT.get(name, 8)}
    if name != "bert_encoder":
        small.update(num_classes=10, in_channels=1)
    narrow = extract(name, **small)
    full = fresh(name)
    assert [(layer.name, layer.kind, layer.inputs) for layer in narrow.layers] == \
        [(layer.name, layer.kind, layer.inputs) for layer in full.layers]
    assert narrow.layers != full.layers
    with torch.device("meta"):
        model = zoo.build(name, **small)
    module_names = {n for n, _ in model.named_modules()}
    assert {layer.name for layer in narrow.layers} - {"loss"} <= module_names


def test_narrow_resnet18_on_digit_sized_images():
    trace = extract("resnet18", width=0.25, input_size=8, in_channels=1, num_classes=10)
    layers = by_name(trace)
    assert (layers["conv1"].cin, layers["conv1"].cout, layers["conv1"].ho) == (1, 16, 4)
    assert (layers["fc"].cin, layers["fc"].cout) == (128, 10)
    assert trace.input_shape == (1, 8, 8)


def test_save_load_round_trip(tmp_path):
    for name in ("bert_encoder", "tiny_resnet"):
        trace = fresh(name)
        save_trace(trace, tmp_path / f"{name}.yaml")
        back = load_trace(tmp_path / f"{name}.yaml")
        assert (back.workload, back.input_shape, back.layers) == (trace.workload, trace.input_shape, trace.layers)


def test_cli_writes_traces_and_reports_unknown_names(tmp_path, capsys):
    assert main(["tiny_mlp", "tiny_cnn", "--out", str(tmp_path)]) == 0
    assert load_trace(tmp_path / "tiny_mlp.yaml").layers == fresh("tiny_mlp").layers
    assert load_trace(tmp_path / "tiny_cnn.yaml").layers == fresh("tiny_cnn").layers
    assert main(["nosuch", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'nosuch'" in err and "resnet18" in err and err.count("\n") == 1
    assert DEFAULT_OUT == TRACES


def test_build_rejects_bad_arguments():
    with pytest.raises(UserError, match=r"'nosuch'.*available: resnet18, vgg16"):
        zoo.build("nosuch")
    with pytest.raises(UserError, match=r"resnet18: unknown argument 'depth'"):
        zoo.build("resnet18", depth=50)
    with pytest.raises(UserError, match=r"resnet18: width = 0 \(must be > 0\)"):
        zoo.build("resnet18", width=0)
    with pytest.raises(UserError, match=r"alexnet: input_size = 32 \(must be >= 63\)"):
        zoo.build("alexnet", input_size=32)
    with pytest.raises(UserError, match=r"bert_encoder: num_classes = 2"):
        zoo.build("bert_encoder", num_classes=2)


def test_seeded_build_is_deterministic_and_trains_on_real_tensors():
    def weights(seed):
        model = zoo.build("tiny_resnet", generator=torch.Generator().manual_seed(seed))
        return model, [p.detach().clone() for p in model.parameters()]
    model, a = weights(1)
    _, b = weights(1)
    _, c = weights(2)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    loss = nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert model.conv1.weight.grad is not None and model.conv1.weight.device.type == "cpu"


class _Inline(nn.Module):
    def __init__(self, op):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.ReLU()
        self.op = op

    def forward(self, x):
        return self.act(self.op(self.fc(x)))


def _trace(module):
    with torch.device("meta"):
        model = module()
    return trace_model(model, "probe", input_shape=(2, 4), classifier=False)


def test_reshapes_pass_through_and_other_inline_ops_are_refused():
    trace = _trace(lambda: _Inline(lambda t: t.transpose(1, 2).reshape(t.shape[0], 2, 4).contiguous()))
    assert by_name(trace)["act"].inputs == ("fc",)
    with pytest.raises(UserError, match=r"probe: tensor op '(__mul__|mul)' on the output of fc runs outside a module"):
        _trace(lambda: _Inline(lambda t: t * 2))


def test_module_reused_is_refused():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(self.act(x))

    with pytest.raises(UserError, match=r"module act runs twice"):
        _trace(Twice)
