"""The plugins of Synaptic Intelligence and Memory Aware Synapses, with fast penalties.

Imported by :func:`strategies.importance.si` and :func:`strategies.importance.mas` when they
build a plugin (this module imports torch and Avalanche).
"""
from __future__ import annotations

import torch
from avalanche.training.plugins import MASPlugin, SynapticIntelligencePlugin

from .penalty import PenaltyPlan, cached_plan, forget_plan
from .state import param_dict, param_dict_state


class TextSIPlugin(SynapticIntelligencePlugin):
    """Avalanche's SynapticIntelligencePlugin with its state kept in real copies, and a fast penalty.

    Avalanche 0.6.0 snapshots the weights with ``param.detach().cpu().flatten()``. On a CUDA
    device that is a copy; on the CPU it is a view of the live parameter, so the "old" weights
    before an optimizer step, the "new" weights after it and the anchor of the penalty all follow
    the parameter: the path integral (grad x weight change) is always zero and so is the penalty.
    SI then trains exactly like naive fine-tuning on the CPU (the same accuracy matrix as
    naive's). This subclass keeps the same data structures
    (checkpoints read them), the same importance update (``update_ewc_data``, clipped at 0.001
    as in Avalanche) and the same penalty ``lambda / 2 * sum(omega * (theta - theta_anchor)**2)``,
    but snapshots into owned tensors, on the parameters' device, with multi-tensor kernels.
    """

    def _params(self, model):
        return [(n, p) for n, p in self.allowed_parameters(model, self.excluded_parameters)]

    def _own(self, model):
        """Every stored tensor a copy of its own, on the parameter's device."""
        for name, param in self._params(model):
            for store in (*self.ewc_data, *self.syn_data.values()):
                if name in store:
                    item = store[name]
                    item.device = param.device
                    item.data = item.data.detach().to(param.device).clone()

    def _snapshot(self, model, store, grads=False):
        pairs = []
        for name, param in self._params(model):
            source = param.grad if grads else param
            if source is None:  # no gradient this step: it moved nothing
                store[name].data.zero_()
            else:
                pairs.append((store[name].data, source.detach().reshape(-1)))
        if pairs:
            torch._foreach_copy_([a for a, _ in pairs], [b for _, b in pairs])

    def before_training_exp(self, strategy, **kw):
        self.create_syn_data(strategy.model, self.ewc_data, self.syn_data, self.excluded_parameters)
        self._own(strategy.model)
        self._snapshot(strategy.model, self.ewc_data[0])  # the anchor: weights at the start
        for trajectory in self.syn_data["trajectory"].values():
            trajectory.data.zero_()

    def before_backward(self, strategy, **kw):
        exp_id = strategy.clock.train_exp_counter
        if exp_id == 0:  # importances are all zero before the first update: no penalty
            return
        params = self._params(strategy.model)
        lam = self.si_lambda[exp_id] if exp_id < len(self.si_lambda) else self.si_lambda[-1]
        plan = cached_plan(self, (exp_id, tuple(id(p) for _, p in params)), lambda: PenaltyPlan([(
            [p for _, p in params],
            [self.ewc_data[0][n].data.view(p.shape) for n, p in params],
            [self.ewc_data[1][n].data.view(p.shape) for n, p in params], lam / 2,
        )]))
        penalty = plan()
        if penalty is not None:
            strategy.loss += penalty

    def before_training_iteration(self, strategy, **kw):
        self._snapshot(strategy.model, self.syn_data["old_theta"])

    def after_training_iteration(self, strategy, **kw):
        # trajectory += grad * (theta_new - theta_old), in place: the "old" snapshot turns
        # into old - new (it is taken again before the next step), no new buffers
        pairs = [(n, p) for n, p in self._params(strategy.model) if p.grad is not None]
        if not pairs:
            return
        old = [self.syn_data["old_theta"][n].data for n, _ in pairs]
        torch._foreach_sub_(old, [p.detach().reshape(-1) for _, p in pairs])
        torch._foreach_addcmul_([self.syn_data["trajectory"][n].data for n, _ in pairs],
                                [p.grad.detach().reshape(-1) for _, p in pairs], old, value=-1.0)

    def after_training_exp(self, strategy, **kw):
        # Avalanche's update_ewc_data(..., clip_to=0.001, c=1, eps) on the owned copies:
        # cum += c * trajectory / ((theta - anchor)**2 + eps); omega = min(-cum, 0.001);
        # the anchor moves to the new weights.
        names = [n for n, _ in self._params(strategy.model)]
        self._snapshot(strategy.model, self.syn_data["new_theta"])
        new = [self.syn_data["new_theta"][n].data for n in names]
        anchor = [self.ewc_data[0][n].data for n in names]
        moved = torch._foreach_sub(new, anchor)
        torch._foreach_mul_(moved, moved)
        torch._foreach_add_(moved, self.eps)
        ratio = torch._foreach_div([self.syn_data["trajectory"][n].data for n in names], moved)
        cumulative = [self.syn_data["cum_trajectory"][n].data for n in names]
        torch._foreach_add_(cumulative, ratio)
        for name, cum in zip(names, cumulative):
            self.ewc_data[1][name].data = torch.clamp(-cum, max=0.001)
        torch._foreach_copy_(anchor, new)

    def state_dict(self, examples: bool = True) -> dict:
        """The importances and anchor (``ewc_data``) and the path-integral buffers (``syn_data``)."""
        return {"kind": "si", "ewc_data": [param_dict_state(d) for d in self.ewc_data],
                "syn_data": {k: param_dict_state(v) for k, v in self.syn_data.items()}}

    def load_state_dict(self, state: dict, context) -> None:
        forget_plan(self)  # planned from the state being replaced
        self.ewc_data = tuple(param_dict(d) for d in state["ewc_data"])
        self.syn_data = {k: param_dict(v) for k, v in state["syn_data"].items()}


class TextMASPlugin(MASPlugin):
    """Avalanche's MASPlugin with the penalty of a :class:`strategies.penalty.PenaltyPlan` built
    once per experience (same value and gradient, multi-tensor kernels)."""

    def before_backward(self, strategy, **kw):
        if strategy.clock.train_exp_counter == 0:
            return
        if not self.importance or not self.params:
            raise ValueError("MAS importance is not available")
        params = [(n, p) for n, p in strategy.model.named_parameters() if n in self.importance]
        key = (strategy.clock.train_exp_counter, tuple(id(p) for _, p in params))
        penalty = cached_plan(self, key, lambda: PenaltyPlan([(
            [p for _, p in params],
            [self.params[n].expand(p.shape) for n, p in params],
            [self.importance[n].expand(p.shape) for n, p in params], float(self._lambda),
        )]))()
        if penalty is not None:
            strategy.loss += penalty

    def state_dict(self, examples: bool = True) -> dict:
        """The anchor parameters and the running importance."""
        return {"kind": "mas", "params": param_dict_state(self.params), "importance": param_dict_state(self.importance)}

    def load_state_dict(self, state: dict, context) -> None:
        forget_plan(self)  # planned from the state being replaced
        self.params = param_dict(state["params"])
        self.importance = param_dict(state["importance"])
