"""EWC's plugin, separate and online: Avalanche's EWCPlugin with the empirical Fisher of the
papers and a fast penalty.

Imported by :func:`strategies.ewc.ewc` and :func:`strategies.ewc.online_ewc` when they build a
plugin (this module imports torch and Avalanche).
"""
from __future__ import annotations

from collections import defaultdict

import torch
from avalanche.training.plugins import EWCPlugin
from avalanche.training.utils import ParamData

from .importance_estimates import (
    negative_log_likelihood_of,
    per_example_importance,
    sample_positions,
)
from .penalty import PenaltyPlan, cached_plan, forget_plan
from .state import param_dict, param_dict_state


def _sum_product(a, b, chunk: int = 1 << 20) -> float:
    """``sum(a * b)`` accumulated in float64, a million elements at a time: no float64 copy of a
    parameter-sized tensor (three of them, 94 MB each, for MiniLM's word embeddings). Feeds only
    the penalty's constant, which moves the loss value, never a gradient."""
    a, b = a.reshape(-1), b.reshape(-1)
    return float(sum(torch.sum(a[i:i + chunk] * b[i:i + chunk], dtype=torch.float64)
                     for i in range(0, len(a), chunk)))


class TextEWCPlugin(EWCPlugin):
    """Avalanche's EWCPlugin with the papers' Fisher, the papers' 1/2, and a fast penalty.

    - The importance pass (``compute_importances``) is the empirical Fisher of Kirkpatrick et
      al. 2017: the mean over examples of each example's squared gradient of ``-log p(y | x)``
      (y the true label), at the weights that end the experience, model in eval mode (no
      dropout noise), over ``fisher_samples`` training examples drawn with the run seed's
      ``"importance-sample"`` generator (all of them when 0 or fewer):
      :mod:`strategies.importance_estimates`. For a tagger, ``log p(y | x)`` sums over the tagged
      positions of the example; for a multi-label head it is the Bernoulli log-likelihood of
      its label units (``task_type``). Sample and estimate do not depend on the order
      in which the experience stores its examples. (Avalanche squares the gradient of each
      minibatch of consecutive examples instead, which depends on that order.)
    - The penalty is ``lambda / 2 * sum_k sum F_k (theta - theta_k)**2`` (Kirkpatrick et al.
      2017, eq. 3); online mode keeps one ``F* = gamma F*_prev + F_k`` (Schwarz et al. 2018)
      and its anchor. It goes through a :class:`strategies.penalty.PenaltyPlan` built once per
      experience (``_plan``): multi-tensor kernels instead of a per-tensor autograd graph, and
      only the embedding rows with some importance; separate mode merges its per-experience
      penalties into one (``_merged``) and folds the per-experience importances and anchors
      into two sums (``_fold``), so a step costs the same time, and the plugin holds the same
      memory, after 2 or 10 experiences.
    """

    def __init__(self, *args, fisher_samples: int = 0, seed: int = 0, task_type: str = "single-label", **kwargs):
        super().__init__(*args, **kwargs)
        self.fisher_samples = fisher_samples
        self.run_seed = seed
        # y of a tagger is its tag sequence, of a multi-label head its label set
        self.negative_log_likelihood = negative_log_likelihood_of(task_type)
        self.sampled_experience = 0  # the experience whose importances are computed next
        # separate mode, after two or more experiences: their importances and anchors folded
        # into sums (see _fold), so memory does not grow with the number of experiences
        self.total_importance: dict = {}  # name -> ParamData, sum_k F_k
        self.weighted_anchor: dict = {}  # name -> ParamData, sum_k F_k theta_k
        self.folded_square = 0.0  # sum over k and parameters of F_k theta_k**2 (float64)

    @property
    def weight(self) -> float:
        """The factor of ``sum F (theta - anchor)**2`` in the loss: lambda / 2."""
        return float(self.ewc_lambda) / 2

    def before_backward(self, strategy, **kw):
        exp_counter = strategy.clock.train_exp_counter
        if exp_counter == 0:
            return
        self._fold()
        plan, constant = self._plan(strategy.model, exp_counter)
        penalty = plan()
        if penalty is not None:
            strategy.loss += penalty + self.weight * constant

    def _plan(self, model, exp_counter):
        """The penalty's :class:`PenaltyPlan` and constant, built once per experience."""
        named = list(model.named_parameters())
        return cached_plan(self, (exp_counter, tuple(id(p) for _, p in named)),
                           lambda: self._build_plan(named, exp_counter))

    def _build_plan(self, named, exp_counter):
        constant = 0.0
        if self.mode == "separate" and self.total_importance:
            terms, constant = self._merged(named)
        else:  # online mode, or separate after one experience: Avalanche's own storage
            past = range(exp_counter) if self.mode == "separate" else [exp_counter - 1]
            terms = []
            for experience in past:
                saved, importance = self.saved_params[experience], self.importances[experience]
                params, anchors, weights = [], [], []
                for name, param in named:
                    if name not in saved:  # new parameters do not count
                        continue
                    params.append(param)
                    anchors.append(saved[name].expand(param.shape))
                    weights.append(importance[name].expand(param.shape))
                terms.append((params, anchors, weights))
        return PenaltyPlan([(*term, self.weight) for term in terms]), constant

    def _fold(self):
        """Separate EWC's per-experience importances F_k and anchors theta_k, once there
        are two or more, folded into A = sum_k F_k, W = sum_k F_k theta_k and the scalar
        S = sum_k sum F_k theta_k**2, and the per-experience copies dropped: two copies of
        the parameters instead of two per experience (for MiniLM, 91 MB per copy). The penalty
        is unchanged (see _merged): A and W are summed in experience order, as a sum over
        the k per-experience terms would be, so a run gives the same numbers."""
        if self.mode != "separate":
            return
        pending = sorted(self.importances)
        if not pending or (not self.total_importance and len(pending) < 2):
            return
        with torch.no_grad():
            for experience in pending:
                saved, importance = self.saved_params[experience], self.importances[experience]
                # one parameter at a time, each copy dropped once folded, the first
                # experience's importance taken over rather than copied: the fold adds about
                # one parameter tensor to the run's memory, not two copies of the model
                for name in list(importance):
                    weight, anchor = importance.pop(name), saved.pop(name, None)
                    if anchor is None:
                        continue
                    product = weight.data * anchor.data
                    self.folded_square += _sum_product(product, anchor.data)
                    if name not in self.total_importance:
                        self.total_importance[name] = weight
                        self.weighted_anchor[name] = ParamData(name, init_tensor=product)
                        continue
                    total, weighted = self.total_importance[name], self.weighted_anchor[name]
                    total.expand(weight.shape)  # a grown head: zero importance on new units
                    weighted.expand(weight.shape)
                    total.data.add_(weight.data)
                    weighted.data.add_(product)
                del self.importances[experience]
                self.saved_params.pop(experience, None)

    def _merged(self, named):
        """Separate EWC's k penalties as one: sum_k F_k (theta - theta_k)**2 =
        A (theta - m)**2 + c with A = sum_k F_k, m = W / A (W = sum_k F_k theta_k, so m is
        the F-weighted mean anchor) and c = S - W m, a constant. Same value, same gradient
        2 A (theta - m), at the cost of one term per step instead of k; computed once per
        experience (see _plan). Where A is 0, so is W, and m is 0: the term and its gradient
        vanish there whatever m is."""
        named = [(name, param) for name, param in named if name in self.total_importance]
        params, means, totals, constant = [], [], [], self.folded_square
        with torch.no_grad():
            for name, param in named:
                total = self.total_importance[name].expand(param.shape)
                weighted = self.weighted_anchor[name].expand(param.shape)
                mean = weighted / total.clamp_min(torch.finfo(total.dtype).tiny)
                constant -= _sum_product(weighted, mean)
                params.append(param)
                means.append(mean)
                totals.append(total)
        return [(params, means, totals)], constant

    def after_training_exp(self, strategy, **kw):
        forget_plan(self)
        self.sampled_experience = strategy.clock.train_exp_counter
        super().after_training_exp(strategy, **kw)
        self._fold()

    def compute_importances(self, model, criterion, optimizer, dataset, device, batch_size, num_workers=0):
        """The empirical Fisher of ``dataset`` (Avalanche's signature; criterion, optimizer and
        batch size are not used: the Fisher is that of the model's log-likelihood)."""
        positions = sample_positions(dataset, self.fisher_samples, self.run_seed, self.sampled_experience)
        fisher = per_example_importance(model, [dataset[i] for i in positions], self.negative_log_likelihood,
                                        "square", device)
        return {name: ParamData(name, init_tensor=value, device=value.device) for name, value in fisher.items()}

    def state_dict(self, examples: bool = True) -> dict:
        """Per-experience anchors and importances and, in separate mode, their folded sums."""
        return {"kind": "ewc",
                "saved_params": {int(k): param_dict_state(v) for k, v in self.saved_params.items()},
                "importances": {int(k): param_dict_state(v) for k, v in self.importances.items()},
                "total_importance": param_dict_state(self.total_importance),
                "weighted_anchor": param_dict_state(self.weighted_anchor),
                "folded_square": float(self.folded_square)}

    def load_state_dict(self, state: dict, context) -> None:
        forget_plan(self)  # planned from the state being replaced
        device = context.device
        self.saved_params = defaultdict(dict, {k: param_dict(v, device) for k, v in state["saved_params"].items()})
        self.importances = defaultdict(dict, {k: param_dict(v, device) for k, v in state["importances"].items()})
        self.total_importance = param_dict(state["total_importance"], device)
        self.weighted_anchor = param_dict(state["weighted_anchor"], device)
        self.folded_square = float(state["folded_square"])
