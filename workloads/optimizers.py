"""Optimizer registry: what the simulator accounts for an optimizer step and how the replay builds it.

One entry per `training.optimizer` name. The simulator reads `state_copies` (optimizer-state tensors,
each the size of the weights) and `ops_per_param` (vector-unit element operations per parameter); the
replay calls `build` so it trains with the same optimizer the simulated run accounted for. torch is
imported only inside `build`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from models.errors import UserError


@dataclass(frozen=True)
class OptimizerKind:
    name: str
    state_copies: int
    ops_per_param: int
    build: Callable[[Iterable[Any], float, float], Any]  # (parameters, lr, weight_decay) -> torch optimizer


REGISTRY: dict[str, OptimizerKind] = {}


def register(kind: OptimizerKind) -> OptimizerKind:
    REGISTRY[kind.name] = kind
    return kind


def get(name: str, where: str = "training.optimizer") -> OptimizerKind:
    if name not in REGISTRY:
        raise UserError(f"{where} = {str(name)[:80]!r} (accepted: {', '.join(REGISTRY)})")
    return REGISTRY[name]


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def _sgd(momentum: float) -> Callable[[Iterable[Any], float, float], Any]:
    def build(params: Iterable[Any], lr: float, weight_decay: float) -> Any:
        import torch
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return build


def _adam(params: Iterable[Any], lr: float, weight_decay: float) -> Any:
    import torch
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


# ops per parameter: sgd w -= lr*(g + wd*w) (2); momentum adds v = m*v + g (2); Adam updates two
# moments, their bias corrections, the square root and the division (12).
register(OptimizerKind("sgd", state_copies=0, ops_per_param=2, build=_sgd(0.0)))
register(OptimizerKind("sgd_momentum", state_copies=1, ops_per_param=4, build=_sgd(0.9)))
register(OptimizerKind("adam", state_copies=2, ops_per_param=12, build=_adam))
