"""Arithmetic energy of the PE array and the vector unit, per precision and technology node.

Source: M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, energy per
operation at 45 nm, 0.9 V: 8-bit int multiply 0.2 pJ, 32-bit int add 0.1 pJ, 16-bit float multiply
1.1 pJ, 32-bit float add 0.9 pJ, 32-bit float multiply 3.7 pJ.

A MAC is one multiply in the stored precision plus one add in the accumulator format, which is wider:
int32 for int8, fp32 for the float formats (as in mixed-precision training hardware). Horowitz has no
bf16 multiplier; we scale his fp16 multiplier by the product of significand widths, (8 x 8)/(11 x 11),
since a multiplier's array grows with that product. Only arithmetic is modelled: operand registers and
pipeline latches inside the PE are not (they are not in Horowitz's table either).

A vector element-op is one fused multiply-add in the vector unit's compute format (fp32 for the float
formats, int8 x int8 + int32 for int8); ops such as ReLU or max-pool cost less, so this is an upper
bound per op.

Node scaling: dynamic energy C V^2 with C proportional to the feature size, E(node) = E(45 nm) *
(node / 45) * (Vdd(node) / 0.9 V)^2, Vdd from the ITRS high-performance roadmap used by CACTI/NVSim:
0.9 V at 32 nm, 0.8 V at 22 nm (linear in between); 0.9 V at 45 nm is Horowitz's own condition.
Nodes outside 22-45 nm are refused rather than extrapolated.
"""

from __future__ import annotations

from models.errors import UserError
from models.names import BYTES_PER_ELEMENT as _BYTES
from models.names import PRECISIONS

# Horowitz ISSCC 2014, 45 nm, pJ per operation.
_MUL_45_PJ = {"int8": 0.2, "fp16": 1.1, "bf16": 1.1 * (8 * 8) / (11 * 11), "fp32": 3.7}
_ACC_ADD_45_PJ = {"int8": 0.1, "fp16": 0.9, "bf16": 0.9, "fp32": 0.9}
_VECTOR_FMA_45_PJ = {"int8": 0.2 + 0.1, "fp16": 3.7 + 0.9, "bf16": 3.7 + 0.9, "fp32": 3.7 + 0.9}

_VDD_POINTS = ((22.0, 0.8), (32.0, 0.9), (45.0, 0.9))
NODE_RANGE_NM = (22.0, 45.0)


def _check_precision(precision: str) -> None:
    if precision not in _BYTES:
        raise UserError(f"precision = {precision!r} (accepted: {', '.join(PRECISIONS)})")


def vdd_v(node_nm: float) -> float:
    """Nominal supply at a node (linear between the roadmap points)."""
    lo, hi = NODE_RANGE_NM
    if not lo <= node_nm <= hi:
        raise UserError(f"node_nm = {node_nm} (PE energy is scaled only between {lo:g} and {hi:g} nm)")
    for (n0, v0), (n1, v1) in zip(_VDD_POINTS, _VDD_POINTS[1:]):
        if n0 <= node_nm <= n1:
            return v0 + (v1 - v0) * (node_nm - n0) / (n1 - n0)
    raise AssertionError("unreachable: node inside the range is inside one segment")


def node_scale(node_nm: float) -> float:
    """Factor from Horowitz's 45 nm / 0.9 V energies to ``node_nm``: (node/45) (Vdd/0.9)^2."""
    return (node_nm / 45.0) * (vdd_v(node_nm) / 0.9) ** 2


def bytes_per_element(precision: str) -> int:
    _check_precision(precision)
    return _BYTES[precision]


def mac_energy_pj(precision: str, node_nm: float) -> float:
    """Energy of one multiply-accumulate in the PE array (multiply + wider accumulate add)."""
    _check_precision(precision)
    return (_MUL_45_PJ[precision] + _ACC_ADD_45_PJ[precision]) * node_scale(node_nm)


def vector_op_energy_pj(precision: str, node_nm: float) -> float:
    """Energy of one element-op (a fused multiply-add) on the vector unit."""
    _check_precision(precision)
    return _VECTOR_FMA_45_PJ[precision] * node_scale(node_nm)
