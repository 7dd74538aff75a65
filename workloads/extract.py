"""Layer-trace extraction: run a model on meta tensors with hooks and record one `Layer` per module.

The model is built under ``torch.device("meta")`` (no memory, no weights materialised) and run on a
batch of 2 (so the batch dimension is never confused with another dimension of size 1); shapes are
recorded per sample. Producers are tracked by tensor identity: each leaf module's forward hook marks
its output as produced by that module, and a torch-function mode lets the reshaping ops written
inline (``view``, ``transpose``, ``flatten`` ...) pass the producer of their input through. Any other
tensor op outside a module is refused, because it would be work the trace does not show: wrap it in
a module (`workloads.zoo.Add`, `workloads.zoo.MatMul`). ``Flatten``, ``Dropout`` and ``Identity``
modules pass their input's producer through and are not layers.

CLI: ``python -m workloads.extract [NAME ...] [--out DIR]`` regenerates ``traces/layers/NAME.yaml``.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from models.errors import UserError
from workloads import zoo
from workloads.layers import KINDS, NETWORK_INPUT, Layer, LayerTrace, save_trace

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "traces" / "layers"
LOSS_LAYER = "loss"
_BATCH = 2

_KIND_OF: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (nn.Conv2d, "conv"),
    (nn.Linear, "linear"),
    (zoo.MatMul, "matmul"),
    (nn.BatchNorm2d, "batchnorm"),
    (nn.LayerNorm, "layernorm"),
    ((nn.ReLU, nn.ReLU6), "relu"),
    (nn.GELU, "gelu"),
    (nn.MaxPool2d, "maxpool"),
    ((nn.AvgPool2d, nn.AdaptiveAvgPool2d), "avgpool"),
    (zoo.Add, "add"),
    (nn.Softmax, "softmax"),
)
_PASS_THROUGH_MODULES = (nn.Flatten, nn.Dropout, nn.Identity)
_PASS_THROUGH_OPS = frozenset({"view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "permute",
                               "transpose", "t", "contiguous", "squeeze", "unsqueeze"})


def _tensors(obj) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item)


class _Producers:
    """Layer name that produced each tensor, keyed by identity; holds the tensors so ids stay unique."""

    def __init__(self):
        self._by_id: dict[int, tuple[torch.Tensor, str]] = {}

    def set(self, tensor: torch.Tensor, name: str) -> None:
        self._by_id[id(tensor)] = (tensor, name)

    def get(self, tensor: torch.Tensor) -> str | None:
        entry = self._by_id.get(id(tensor))
        return entry[1] if entry is not None and entry[0] is tensor else None


class _InlineOps(TorchFunctionMode):
    """Outside modules: reshaping ops inherit their input's producer, any other tensor op is refused."""

    def __init__(self, producers: _Producers, workload: str):
        super().__init__()
        self.producers = producers
        self.workload = workload
        self.depth = 0  # > 0 while a hooked module runs: its inner ops belong to it

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.depth:
            return out
        outs = list(_tensors(out))
        sources = {src for t in _tensors((args, kwargs)) if (src := self.producers.get(t)) is not None}
        if not outs or not sources:
            return out
        op = getattr(func, "__name__", str(func))
        if op not in _PASS_THROUGH_OPS or len(sources) > 1:
            raise UserError(f"{self.workload}: tensor op {op!r} on the output of {', '.join(sorted(sources))} "
                            "runs outside a module (wrap it in a module so the trace has it as a layer)")
        (source,) = sources
        for t in outs:
            self.producers.set(t, source)
        return out


def _kind(name: str, module: nn.Module, workload: str) -> str:
    for types, kind in _KIND_OF:
        if isinstance(module, types):
            return kind
    raise UserError(f"{workload}: module {name} ({type(module).__name__}) has no layer kind "
                    f"(accepted: {', '.join(KINDS)})")


def _square(value, what: str) -> int:
    values = value if isinstance(value, (tuple, list)) else (value,)
    if not all(isinstance(v, int) for v in values) or len(set(values)) != 1:
        raise UserError(f"{what} = {value!r} (only equal integer values per dimension are supported)")
    return values[0]


def _per_sample(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(d) for d in t.shape[1:])


def _layer(name: str, kind: str, module: nn.Module, args: tuple, out: torch.Tensor,
           inputs: tuple[str, ...]) -> Layer:
    operands = list(_tensors(args))
    in_shape, out_shape = _per_sample(operands[0]), _per_sample(out)
    rec = dict(name=name, kind=kind, inputs=inputs, in_shape=in_shape, out_shape=out_shape,
               weight_elems=sum(p.numel() for p in module.parameters()))
    if kind == "conv":
        if _square(module.dilation, f"{name}.dilation") != 1:
            raise UserError(f"{name}.dilation = {module.dilation} (only 1 is supported)")
        kh, kw = module.kernel_size
        rec.update(cin=module.in_channels, cout=module.out_channels, h=in_shape[1], w=in_shape[2],
                   ho=out_shape[1], wo=out_shape[2], kh=kh, kw=kw, stride=_square(module.stride, f"{name}.stride"),
                   padding=_square(module.padding, f"{name}.padding"), groups=module.groups)
    elif kind == "linear":
        rec.update(cin=module.in_features, cout=module.out_features, rows=math.prod(in_shape[:-1]))
    elif kind == "matmul":
        a, b = operands
        rec.update(m=int(a.shape[-2]), k=int(a.shape[-1]), n=int(b.shape[-1]), heads=math.prod(a.shape[1:-2]))
    elif isinstance(module, nn.AdaptiveAvgPool2d):
        # equal windows when the output divides the input; otherwise the widest of PyTorch's windows
        size_in, size_out = in_shape[1], out_shape[1]
        k = -(-size_in // size_out)
        rec.update(kh=k, kw=k, stride=max(1, size_in // size_out))
    elif kind in ("maxpool", "avgpool"):
        k = _square(module.kernel_size, f"{name}.kernel_size")
        rec.update(kh=k, kw=k, stride=_square(module.stride or k, f"{name}.stride"),
                   padding=_square(module.padding, f"{name}.padding"))
    return Layer(**rec)


def trace_model(model: nn.Module, workload: str, input_shape: tuple[int, ...] | None = None,
                classifier: bool | None = None) -> LayerTrace:
    """Run ``model`` once on a batch of 2 on its own device (meta when built by `extract`) and return
    its layers in forward execution order.

    ``input_shape`` (per sample) and ``classifier`` default to the model's ``input_shape`` and
    ``is_classifier`` attributes; a classifier gets a final ``softmax`` layer named ``loss``
    (cross-entropy) reading the logits.
    """
    input_shape = tuple(input_shape if input_shape is not None else model.input_shape)
    classifier = bool(classifier if classifier is not None else getattr(model, "is_classifier", False))
    producers = _Producers()
    mode = _InlineOps(producers, workload)
    layers: list[Layer] = []
    pending: dict[str, tuple[str, ...]] = {}
    seen: set[str] = set()

    def hooks(name: str, module: nn.Module):
        kind = None if isinstance(module, _PASS_THROUGH_MODULES) else _kind(name, module, workload)

        def pre(mod, args, kwargs):
            if name in seen:
                raise UserError(f"{workload}: module {name} runs twice (give each use its own module)")
            srcs = tuple(producers.get(t) for t in _tensors((args, kwargs)))
            if not srcs or None in srcs:
                raise UserError(f"{workload}: cannot tell which layer produced the inputs of {name}")
            pending[name] = srcs
            mode.depth += 1

        def post(mod, args, kwargs, out):
            mode.depth -= 1
            seen.add(name)
            if not isinstance(out, torch.Tensor):
                raise UserError(f"{workload}: module {name} returns {type(out).__name__}, not one tensor")
            srcs = pending.pop(name)
            if kind is None:
                producers.set(out, srcs[0])
                return
            layers.append(_layer(name, kind, mod, (args, kwargs), out, srcs))
            producers.set(out, name)
        return pre, post

    handles = []
    try:
        for name, module in model.named_modules():
            if next(module.children(), None) is not None:
                continue
            if name in (NETWORK_INPUT, LOSS_LAYER):
                raise UserError(f"{workload}: module name {name!r} is reserved")
            pre, post = hooks(name, module)
            handles += [module.register_forward_pre_hook(pre, with_kwargs=True),
                        module.register_forward_hook(post, with_kwargs=True)]
        device = next((p.device for p in model.parameters()), torch.device("meta"))
        x = torch.empty((_BATCH, *input_shape), device=device)
        producers.set(x, NETWORK_INPUT)
        with torch.no_grad(), mode:
            out = model(x)
    finally:
        for handle in handles:
            handle.remove()
    if classifier:
        logits = producers.get(out)
        if logits is None:
            raise UserError(f"{workload}: cannot tell which layer produced the logits")
        shape = _per_sample(out)
        layers.append(Layer(name=LOSS_LAYER, kind="softmax", inputs=(logits,), in_shape=shape, out_shape=shape))
    return LayerTrace(workload=workload, input_shape=input_shape, layers=tuple(layers))


def extract(name: str, **build_kw) -> LayerTrace:
    """Build the zoo model ``name`` on the meta device (``build_kw`` as for `zoo.build`) and trace it."""
    with torch.device("meta"):
        model = zoo.build(name, **build_kw)
    return trace_model(model, name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.extract",
                                     description="Regenerate the layer traces of built-in models.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"models to extract (default: all of {', '.join(zoo.MODELS)})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    try:
        traces = [extract(name) for name in (args.names or list(zoo.MODELS))]
        args.out.mkdir(parents=True, exist_ok=True)
        for trace in traces:
            path = args.out / f"{trace.workload}.yaml"
            save_trace(trace, path)
            gemms = sum(layer.is_gemm for layer in trace.layers)
            weights = sum(layer.weight_elems for layer in trace.layers)
            print(f"{trace.workload}: {len(trace.layers)} layers ({gemms} GEMM), "
                  f"{weights / 1e6:.3f} M weights -> {path}")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {args.out}: cannot write ({exc.strerror})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
