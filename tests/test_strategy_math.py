"""The maths behind the strategies, checked on hand-made tensors apart from any training loop."""
from types import SimpleNamespace

import pytest
import torch
from avalanche.training.utils import ParamData
from torch import nn


def _param(name, values):
    return ParamData(name, init_tensor=torch.tensor(values, dtype=torch.float))


def _fake_strategy(model, exp_counter):
    return SimpleNamespace(clock=SimpleNamespace(train_exp_counter=exp_counter), model=model,
                           device="cpu", loss=torch.tensor(0.0))


def test_ewc_penalty_is_half_lambda_times_fisher_weighted_squared_drift():
    from strategies.ewc_plugin import TextEWCPlugin

    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0]]))
    plugin = TextEWCPlugin(ewc_lambda=2.0, mode="separate")
    plugin.saved_params[0] = {"weight": _param("weight", [[0.0, 0.0]])}
    plugin.importances[0] = {"weight": _param("imp", [[1.0, 3.0]])}
    plugin.saved_params[1] = {"weight": _param("weight", [[1.0, 1.0]])}
    plugin.importances[1] = {"weight": _param("imp", [[5.0, 0.5]])}
    strategy = _fake_strategy(model, exp_counter=2)
    plugin.before_backward(strategy)
    # experience 0: 1*1^2 + 3*2^2 = 13 ; experience 1: 5*0^2 + 0.5*1^2 = 0.5 ; times lambda/2 = 1
    assert strategy.loss.item() == pytest.approx(2.0 / 2 * (13 + 0.5))


def test_online_ewc_keeps_one_decayed_importance_copy():
    from strategies.ewc_plugin import TextEWCPlugin

    plugin = TextEWCPlugin(ewc_lambda=1.0, mode="online", decay_factor=0.5)
    plugin.update_importances({"w": _param("w", [2.0, 4.0])}, 0)
    plugin.update_importances({"w": _param("w", [1.0, 1.0])}, 1)
    assert list(plugin.importances) == [1]  # one copy kept
    # F* = gamma F*_prev + F (Schwarz et al. 2018)
    torch.testing.assert_close(plugin.importances[1]["w"].data, torch.tensor([2.0, 3.0]))


def test_empirical_fisher_is_the_mean_of_per_example_squared_log_likelihood_gradients():
    from strategies.importance_estimates import (
        negative_log_likelihood,
        per_example_importance,
    )

    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    y = torch.tensor([1, 1])
    fisher = per_example_importance(model, list(zip(x, y, [0, 0])), negative_log_likelihood, "square", "cpu")
    # d(-log softmax(Wx)_y)/dW = (softmax(Wx) - onehot(y)) x^T, squared, averaged over the two examples
    expected = torch.zeros(2, 2)
    for xi, yi in zip(x, y):
        p = torch.softmax(model.weight.detach() @ xi, 0)
        expected += (torch.outer(p - nn.functional.one_hot(yi, 2), xi)) ** 2 / 2
    torch.testing.assert_close(fisher["weight"], expected)


def test_mas_importance_is_the_mean_of_per_example_absolute_gradients():
    from strategies.importance_estimates import (
        per_example_importance,
        squared_output_norm,
    )

    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -1.0]]))
    x = torch.tensor([[1.0, 2.0], [2.0, 1.0]])
    importance = per_example_importance(model, list(zip(x, [0, 0], [0, 0])), squared_output_norm, "absolute", "cpu")
    # d(w.x)^2/dw = 2 (w.x) x: [-2, -4] and [4, 2]; the mean of their absolute values is [3, 3]
    # (the absolute value of their mean, a batch's gradient, would be [1, 1])
    torch.testing.assert_close(importance["weight"], torch.tensor([[3.0, 3.0]]))


def test_si_consolidation_divides_the_path_integral_by_the_squared_displacement_plus_xi():
    from strategies.importance_estimates import consolidate

    importance = [torch.tensor([0.5, 0.5, 0.0])]
    path = [torch.tensor([2.0, -3.0, 2e3])]  # omega: loss decrease credited to each parameter
    anchor = [torch.tensor([0.0, 0.0, 0.0])]
    current = [torch.tensor([1.0, 1.0, 0.1])]
    consolidate(importance, path, anchor, current, damping=0.1)
    # Omega = max(0, Omega + omega / (Delta^2 + xi)): 0.5 + 2/1.1 ; max(0, 0.5 - 3/1.1) = 0 ;
    # 2e3 / (0.01 + 0.1), far above Avalanche's 0.001 clip, which is not applied
    torch.testing.assert_close(importance[0], torch.tensor([0.5 + 2 / 1.1, 0.0, 2e3 / 0.11]))
    torch.testing.assert_close(anchor[0], current[0])  # the anchor moves to the new weights
    assert anchor[0].data_ptr() != current[0].data_ptr()
    assert path[0].abs().sum() == 0  # and the path integral starts again


def test_si_path_integral_uses_the_task_gradient_and_the_actual_update():
    from strategies.importance_estimates import path_integral_step, task_gradients

    grads = [torch.tensor([1.0, -2.0])]  # the step's gradient: task loss plus SI's penalty
    importance, anchor = [torch.tensor([3.0, 0.0])], [torch.tensor([0.5, 0.0])]
    before, after = [torch.tensor([1.0, 1.0])], [torch.tensor([0.8, 1.5])]
    task = task_gradients(grads, importance, before, anchor, strength=2.0)
    # the penalty c * Omega * (theta - anchor)^2 has gradient 2 c Omega (theta - anchor) = [6, 0]
    torch.testing.assert_close(task[0], torch.tensor([1.0 - 6.0, -2.0]))
    path = [torch.zeros(2)]
    path_integral_step(path, task, before, after)
    # omega += -g * (after - before) = -[-5, -2] * [-0.2, 0.5]
    torch.testing.assert_close(path[0], torch.tensor([-1.0, 1.0]))
    torch.testing.assert_close(before[0], torch.tensor([1.0, 1.0]))  # inputs left as they were


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
