"""The maths behind the strategies, checked on hand-made tensors apart from any training loop."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from avalanche.training.utils import ParamData


def _param(name, values):
    return ParamData(name, init_tensor=torch.tensor(values, dtype=torch.float))


def _fake_strategy(model, exp_counter):
    return SimpleNamespace(clock=SimpleNamespace(train_exp_counter=exp_counter), model=model,
                           device="cpu", loss=torch.tensor(0.0))


def test_ewc_penalty_is_lambda_times_weighted_squared_drift():
    from avalanche.training.plugins import EWCPlugin

    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0]]))
    plugin = EWCPlugin(ewc_lambda=2.0, mode="separate")
    plugin.saved_params[0] = {"weight": _param("weight", [[0.0, 0.0]])}
    plugin.importances[0] = {"weight": _param("imp", [[1.0, 3.0]])}
    plugin.saved_params[1] = {"weight": _param("weight", [[1.0, 1.0]])}
    plugin.importances[1] = {"weight": _param("imp", [[5.0, 0.5]])}
    strategy = _fake_strategy(model, exp_counter=2)
    plugin.before_backward(strategy)
    # experience 0: 1*1^2 + 3*2^2 = 13 ; experience 1: 5*0^2 + 0.5*1^2 = 0.5 ; times lambda 2
    assert strategy.loss.item() == pytest.approx(2.0 * (13 + 0.5))


def test_online_ewc_keeps_one_decayed_importance_copy():
    from avalanche.training.plugins import EWCPlugin

    plugin = EWCPlugin(ewc_lambda=1.0, mode="online", decay_factor=0.5)
    plugin.update_importances({"w": _param("w", [2.0, 4.0])}, 0)
    plugin.update_importances({"w": _param("w", [1.0, 1.0])}, 1)
    assert list(plugin.importances) == [1]  # one copy kept
    torch.testing.assert_close(plugin.importances[1]["w"].data, torch.tensor([2.0, 3.0]))


def test_si_importance_is_path_integral_over_squared_displacement():
    from avalanche.training.plugins import SynapticIntelligencePlugin as SI

    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)  # moved from 0 to 1 during the experience
    ewc_data = ({"weight": _param("w0", [0.0])}, {"weight": _param("imp", [0.0])})
    # path integral of -grad * dtheta: the loss dropped by 2 along the way
    syn_data = {"new_theta": {"weight": _param("n", [0.0])}, "trajectory": {"weight": _param("t", [-2.0])},
                "cum_trajectory": {"weight": _param("c", [0.0])}}
    SI.update_ewc_data(model, ewc_data, syn_data, clip_to=1e9, excluded_parameters=set(), c=1.0, eps=1e-7)
    # omega = 2 / (1^2 + eps), and the anchor moves to the new weights
    assert ewc_data[1]["weight"].data.item() == pytest.approx(2.0, rel=1e-6)
    assert ewc_data[0]["weight"].data.item() == pytest.approx(1.0)
    penalty = SI.compute_ewc_loss(model, ewc_data, set(), "cpu", lambd=3.0)
    assert penalty.item() == pytest.approx(0.0)  # no drift from the new anchor yet


def test_mas_importance_is_mean_abs_gradient_of_squared_output_norm():
    from avalanche.training.plugins import MASPlugin

    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -1.0]]))
    x = torch.tensor([[1.0, 2.0]])
    dataset = torch.utils.data.TensorDataset(x, torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long))
    strategy = SimpleNamespace(model=model, experience=SimpleNamespace(dataset=dataset), train_mb_size=1,
                               optimizer=torch.optim.SGD(model.parameters(), lr=0.1), device="cpu")
    importance = MASPlugin()._get_importance(strategy)
    # d(w.x)^2/dw = 2 (w.x) x = 2 * (-1) * [1, 2] ; absolute value
    torch.testing.assert_close(importance["weight"].data, torch.tensor([[2.0, 4.0]]))


def test_lwf_distillation_is_temperature_kl_on_old_units():
    from strategies.lwf_plugin import EvalTeacherLwFPlugin

    lwf = EvalTeacherLwFPlugin(alpha=1.0, temperature=2.0).lwf
    student = torch.tensor([[1.0, 0.0, 5.0]])
    teacher = torch.tensor([[0.0, 1.0, -3.0]])
    loss = lwf._distillation_loss(student, teacher, active_units={0, 1})
    p = torch.softmax(teacher[:, :2] / 2, dim=1)
    q = torch.log_softmax(student[:, :2] / 2, dim=1)
    assert loss.item() == pytest.approx((p * (p.log() - q)).sum().item(), rel=1e-6)


def test_der_logit_targets_skip_units_masked_when_stored():
    from strategies.der import logit_targets

    stored = torch.tensor([[2.0, -1000.0], [0.5, -1000.0]])
    current = torch.tensor([[1.0, 3.0, 7.0], [0.0, -2.0, 1.0]])
    targets = logit_targets(stored, current)
    # seen units keep their stored logits; masked (and newer) units copy the current output
    torch.testing.assert_close(targets, torch.tensor([[2.0, 3.0, 7.0], [0.5, -2.0, 1.0]]))
    loss = nn.functional.mse_loss(current, targets)
    assert loss.item() == pytest.approx(((1 - 2) ** 2 + (0 - 0.5) ** 2) / 6)
