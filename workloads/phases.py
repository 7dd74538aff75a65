"""Expand a layer trace into the ops of one training step (no torch).

Order (CONTRACT.md): forward over all layers; backward in reverse layer order, each layer's
``bwd_data`` then ``bwd_weight``; then ``wu`` for every layer with weights, as ``optimizer.step()``.

Tensor ids: ``L:out`` (activation produced by layer L, ``input`` for the network input), ``L:w``
(weight), ``L:dout`` (error: gradient of L's output), ``L:dcol`` (im2col-shaped error of a conv
before col2im), ``L:dw`` (weight gradient), ``L:opt`` (optimizer state).

Backward of a tensor with several consumers: the first consumer to run backward writes its error,
later ones read-modify-write it (gradient accumulation), so a residual fork costs one extra read.
A layer whose inputs are all the network input computes no input gradient (nobody needs it).
"""

from __future__ import annotations

from dataclasses import dataclass

from models.names import BYTES_PER_ELEMENT  # noqa: F401  (re-exported)
from workloads import optimizers
from workloads.layers import NETWORK_INPUT, Layer, LayerTrace

# Element operations per output element on the vector unit (a lane does one per cycle).
VECTOR_OPS_PER_ELEMENT = {
    ("batchnorm", "fwd"): 4, ("batchnorm", "bwd_data"): 6, ("batchnorm", "bwd_weight"): 2,
    ("layernorm", "fwd"): 5, ("layernorm", "bwd_data"): 8, ("layernorm", "bwd_weight"): 2,
    ("relu", "fwd"): 1, ("relu", "bwd_data"): 1, ("gelu", "fwd"): 8, ("gelu", "bwd_data"): 10,
    ("add", "fwd"): 1, ("add", "bwd_data"): 1, ("softmax", "fwd"): 5, ("softmax", "bwd_data"): 2,
    ("col2im", "bwd_data"): 1, ("optimizer", "wu"): 0,
}


@dataclass(frozen=True)
class Operand:
    tensor: str
    tclass: str
    nbytes: int
    accumulate: bool = False  # a write that adds into an existing tensor (read-modify-write)


@dataclass(frozen=True)
class GemmShape:
    m: int
    k: int
    n: int
    count: int = 1  # independent GEMMs of this shape (conv groups, attention heads x batch)

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n * self.count


@dataclass(frozen=True)
class Op:
    """One training op. A GEMM computes Y = A·B (``reads`` = (A, B), ``writes`` = (Y,)); a vector op
    runs ``vector_elem_ops`` element operations on the vector unit."""

    layer: str
    layer_id: int
    phase: str
    op: str
    reads: tuple[Operand, ...]
    writes: tuple[Operand, ...]
    gemm: GemmShape | None = None
    vector_elem_ops: int = 0

    @property
    def macs(self) -> int:
        return self.gemm.macs if self.gemm else 0


def _pool_op(kind: str) -> str:
    return "pool" if kind in ("maxpool", "avgpool") else kind


class _Expander:
    def __init__(self, trace: LayerTrace, batch: int, precision: str, optimizer: str):
        self.trace = trace
        self.batch = batch
        self.eb = BYTES_PER_ELEMENT[precision]
        self.optimizer = optimizer
        self.ids = {layer.name: i for i, layer in enumerate(trace.layers)}
        self.by_name = {layer.name: layer for layer in trace.layers}
        self.errors_written: set[str] = set()

    def act_bytes(self, name: str) -> int:
        if name == NETWORK_INPUT:
            elems = 1
            for d in self.trace.input_shape:
                elems *= d
            return self.batch * elems * self.eb
        return self.batch * self.by_name[name].out_elems * self.eb

    def act(self, name: str) -> Operand:
        tensor = NETWORK_INPUT if name == NETWORK_INPUT else f"{name}:out"
        return Operand(tensor, "activation", self.act_bytes(name))

    def err_read(self, name: str) -> Operand:
        return Operand(f"{name}:dout", "error", self.act_bytes(name))

    def err_write(self, name: str) -> Operand:
        acc = name in self.errors_written
        self.errors_written.add(name)
        return Operand(f"{name}:dout", "error", self.act_bytes(name), accumulate=acc)

    def weight(self, layer: Layer) -> Operand:
        return Operand(f"{layer.name}:w", "weight", layer.weight_elems * self.eb)

    def op(self, layer: Layer, phase: str, op: str, reads, writes, gemm=None, elem_ops=0) -> Op:
        return Op(layer.name, self.ids[layer.name], phase, op, tuple(reads), tuple(writes), gemm, elem_ops)

    def vector_ops(self, layer: Layer, phase: str, elems: int) -> int:
        if layer.kind in ("maxpool", "avgpool"):
            per = layer.kh * layer.kw
        else:
            per = VECTOR_OPS_PER_ELEMENT[(layer.kind, phase)]
        return elems * per

    # forward -------------------------------------------------------------------------------
    def forward(self, layer: Layer) -> list[Op]:
        ins = [self.act(src) for src in layer.inputs]
        out = self.act(layer.name)
        if layer.kind in ("conv", "linear"):
            m, k, n, count = layer.gemm_mkn()
            return [self.op(layer, "fwd", "gemm", [ins[0], self.weight(layer)], [out],
                            GemmShape(m * self.batch, k, n, count))]
        if layer.kind == "matmul":
            return [self.op(layer, "fwd", "gemm", ins[:2], [out],
                            GemmShape(layer.m, layer.k, layer.n, layer.heads * self.batch))]
        reads = list(ins)
        if layer.weight_elems:
            reads.append(self.weight(layer))
        elems = self.batch * layer.out_elems
        return [self.op(layer, "fwd", _pool_op(layer.kind), reads, [out],
                        elem_ops=self.vector_ops(layer, "fwd", elems))]

    # backward ------------------------------------------------------------------------------
    def needs_input_grad(self, layer: Layer) -> bool:
        return any(src != NETWORK_INPUT for src in layer.inputs)

    def backward(self, layer: Layer) -> list[Op]:
        dy = self.err_read(layer.name)
        x = self.act(layer.inputs[0])
        ops: list[Op] = []
        if layer.kind in ("conv", "linear"):
            m, k, n, count = layer.gemm_mkn()
            mb = m * self.batch
            if self.needs_input_grad(layer):
                needs_col2im = layer.kind == "conv" and (layer.kh * layer.kw > 1 or layer.stride > 1)
                if needs_col2im:
                    dcol = Operand(f"{layer.name}:dcol", "error", mb * k * count * self.eb)
                    ops.append(self.op(layer, "bwd_data", "gemm", [dy, self.weight(layer)], [dcol],
                                       GemmShape(mb, n, k, count)))
                    ops.append(self.op(layer, "bwd_data", "col2im", [dcol], [self.err_write(layer.inputs[0])],
                                       elem_ops=mb * k * count))
                else:
                    ops.append(self.op(layer, "bwd_data", "gemm", [dy, self.weight(layer)],
                                       [self.err_write(layer.inputs[0])], GemmShape(mb, n, k, count)))
            dw = Operand(f"{layer.name}:dw", "weight_gradient", layer.weight_elems * self.eb)
            ops.append(self.op(layer, "bwd_weight", "gemm", [x, dy], [dw], GemmShape(k, mb, n, count)))
            return ops
        if layer.kind == "matmul":
            a, b = self.act(layer.inputs[0]), self.act(layer.inputs[1])
            count = layer.heads * self.batch
            if layer.inputs[0] != NETWORK_INPUT:
                ops.append(self.op(layer, "bwd_data", "gemm", [dy, b], [self.err_write(layer.inputs[0])],
                                   GemmShape(layer.m, layer.n, layer.k, count)))
            if layer.inputs[1] != NETWORK_INPUT:
                ops.append(self.op(layer, "bwd_data", "gemm", [a, dy], [self.err_write(layer.inputs[1])],
                                   GemmShape(layer.k, layer.m, layer.n, count)))
            return ops
        if not self.needs_input_grad(layer) and not layer.weight_elems:
            return ops
        elems = self.batch * layer.out_elems
        opname = _pool_op(layer.kind)
        if layer.kind == "add":
            writes = [self.err_write(src) for src in layer.inputs if src != NETWORK_INPUT]
            ops.append(self.op(layer, "bwd_data", "add", [dy], writes, elem_ops=self.vector_ops(layer, "bwd_data", elems)))
            return ops
        saved = {"relu": self.act(layer.name), "gelu": x, "maxpool": x, "softmax": self.act(layer.name),
                 "batchnorm": x, "layernorm": x}.get(layer.kind)
        reads = [dy] + ([saved] if saved else []) + ([self.weight(layer)] if layer.weight_elems else [])
        if layer.kind == "softmax":
            reads = [saved]  # the loss gradient is probs - onehot: no incoming error
        if self.needs_input_grad(layer):
            if layer.kind in ("maxpool", "avgpool"):
                in_elems = self.batch * layer.in_elems
                elem_ops = in_elems
            else:
                elem_ops = self.vector_ops(layer, "bwd_data", elems)
            ops.append(self.op(layer, "bwd_data", opname, reads, [self.err_write(layer.inputs[0])], elem_ops=elem_ops))
        if layer.weight_elems:
            dw = Operand(f"{layer.name}:dw", "weight_gradient", layer.weight_elems * self.eb)
            ops.append(self.op(layer, "bwd_weight", opname, [dy, x], [dw],
                               elem_ops=self.vector_ops(layer, "bwd_weight", elems)))
        return ops

    def update(self, layer: Layer) -> Op:
        w = self.weight(layer)
        dw = Operand(f"{layer.name}:dw", "weight_gradient", w.nbytes)
        kind = optimizers.get(self.optimizer)
        copies = kind.state_copies
        state = [Operand(f"{layer.name}:opt", "optimizer_state", w.nbytes * copies)] if copies else []
        elem_ops = layer.weight_elems * kind.ops_per_param
        return self.op(layer, "wu", "optimizer", [w, dw] + state, [w] + state, elem_ops=elem_ops)


def expand(trace: LayerTrace, batch: int, precision: str = "bf16", optimizer: str = "sgd_momentum",
           phases: tuple[str, ...] = ("fwd", "bwd_data", "bwd_weight", "wu")) -> list[Op]:
    """All ops of one training step in execution order, limited to ``phases``."""
    ex = _Expander(trace, batch, precision, optimizer)
    ops: list[Op] = []
    for layer in trace.layers:
        ops.extend(ex.forward(layer))
    for layer in reversed(trace.layers):
        ops.extend(ex.backward(layer))
    for layer in trace.layers:
        if layer.weight_elems:
            ops.append(ex.update(layer))
    return [op for op in ops if op.phase in phases]
