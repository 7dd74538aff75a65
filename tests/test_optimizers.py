"""The optimizer registry: the simulator's state accounting and the replay's torch optimizer agree."""

import pytest

from models.errors import UserError
from workloads import optimizers


def test_unknown_optimizer_lists_the_registered_ones():
    with pytest.raises(UserError, match=r"training.optimizer = 'lion' \(accepted: sgd, sgd_momentum, adam\)"):
        optimizers.get("lion")


@pytest.mark.parametrize("name", ["sgd", "sgd_momentum", "adam"])
def test_torch_state_tensors_match_the_accounted_copies(name):
    torch = pytest.importorskip("torch")
    w = torch.nn.Parameter(torch.ones(3, 4))
    opt = optimizers.get(name).build([w], 0.1, 0.0)
    w.grad = torch.full_like(w, 0.5)
    opt.step()
    state_tensors = [v for v in opt.state[w].values() if torch.is_tensor(v) and v.shape == w.shape]
    assert len(state_tensors) == optimizers.get(name).state_copies


def test_registering_an_optimizer_makes_it_a_config_choice():
    from simulator.config import load_config
    kind = optimizers.register(optimizers.OptimizerKind("toy_opt", state_copies=3, ops_per_param=7,
                                                        build=optimizers.get("sgd").build))
    try:
        assert load_config(None, ["training.optimizer=toy_opt"]).training.optimizer == "toy_opt"
    finally:
        del optimizers.REGISTRY[kind.name]
