"""The plugins of Synaptic Intelligence and Memory Aware Synapses: thin adapters over the
estimates of :mod:`strategies.importance_estimates`, with the penalty of a
:class:`strategies.penalty.PenaltyPlan`.

Imported by :func:`strategies.importance.si` and :func:`strategies.importance.mas` when they
build a plugin (this module imports torch and Avalanche).
"""
from __future__ import annotations

import torch
from avalanche.core import SupervisedPlugin
from avalanche.training.plugins import MASPlugin
from avalanche.training.utils import ParamData

from .importance_estimates import (
    consolidate,
    path_integral_step,
    per_example_importance,
    sample_positions,
    squared_output_norm,
    task_gradients,
)
from .penalty import SPARSE_MIN_ROWS, PenaltyPlan, cached_plan, forget_plan
from .state import cpu, param_dict, param_dict_state


def _grown(old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """``new`` with ``old`` written over its leading block: a parameter that grew (a head with
    more units) keeps what was stored for its old units."""
    new[tuple(slice(0, size) for size in old.shape)] = old
    return new


def _weight_name(module_name: str) -> str:
    return f"{module_name}.weight" if module_name else "weight"


def _row_sparse_names(model) -> set[str]:
    """The parameters whose path-integral step runs on touched rows only: the weights of
    embedding tables with many rows (word embeddings), of which one step's gradient touches
    few. A linear layer's weight has as many rows (MiniLM's feed-forward ones 1 536) but every
    row gets a gradient at every step, so picking its rows would only add a pass."""
    return {_weight_name(name) for name, module in model.named_modules()
            if isinstance(module, torch.nn.Embedding) and module.weight.shape[0] >= SPARSE_MIN_ROWS}


def _untied_tables(model, names: set[str]) -> dict:
    """The embedding modules among ``names`` (parameter names) whose weight no other module
    shares: their gradient comes from their own lookups only, so the rows a step touched are
    the ids they looked up. A table tied to an output layer gets gradient on every row."""
    uses: dict[int, int] = {}
    for _, param in model.named_parameters(remove_duplicate=False):
        uses[id(param)] = uses.get(id(param), 0) + 1
    return {_weight_name(name): module for name, module in model.named_modules()
            if isinstance(module, torch.nn.Embedding) and _weight_name(name) in names
            and uses.get(id(module.weight)) == 1}


def _rows_from_lookups(seen: list, device) -> torch.Tensor:
    """The sorted rows of the ids looked up."""
    return torch.unique(torch.cat([ids.reshape(-1).to(device) for ids in seen]))


def _scanned_rows(grad: torch.Tensor) -> torch.Tensor:
    """The rows of ``grad`` with a nonzero entry: a pass over the whole table."""
    return torch.nonzero(grad.ne(0).any(dim=1)).flatten()


class TextSIPlugin(SupervisedPlugin):
    """Synaptic Intelligence (Zenke, Poole & Ganguli 2017) as the paper and the authors' code
    (ganguli-lab/pathint) define it.

    For each trainable parameter the plugin keeps the anchor theta* (the weights at the end of
    the previous experience, at the start of training for the first), the importance Omega,
    the path integral omega of the current experience and the weights before the current step:

    - every optimizer step: ``omega += -g * delta``, g the gradient of the task loss (the step's
      gradient less that of SI's own penalty, :func:`task_gradients`) and delta the step's
      actual parameter change;
    - end of an experience: ``Omega = max(0, Omega + omega / ((theta - theta*)**2 + xi))``, then
      ``theta* = theta`` (:func:`consolidate`);
    - penalty: ``c * sum(Omega * (theta - theta*)**2)``, without a 1/2, as the paper's
      surrogate loss.

    ``si_lambda`` is c and ``eps`` is xi (Avalanche's names). Avalanche's
    SynapticIntelligencePlugin clips Omega at 0.001 from above, which makes every parameter of a
    pretrained encoder that moved equally important (a uniform pull towards theta*), and on the
    CPU snapshots views of the live weights (a path integral of zero); this plugin does neither.
    New head units enter with Omega 0 and their initial weights as anchor.
    """

    def __init__(self, si_lambda: float, eps: float):
        super().__init__()
        self.si_lambda = float(si_lambda)
        self.eps = float(eps)
        self.anchor: dict[str, torch.Tensor] = {}
        self.importance: dict[str, torch.Tensor] = {}
        self.path: dict[str, torch.Tensor] = {}  # omega of the current experience
        self.previous: dict[str, torch.Tensor] = {}  # the weights before the current step
        self.step_rows: dict[str, tuple] = {}  # per untied table: (rows looked up, their weights before the step)
        self.penalized = False  # whether this step's loss holds SI's penalty
        self.row_sparse: set[str] = set()  # parameters stepped on their touched rows only
        self.lookups: dict[str, list] = {}  # per untied table, the ids it looked up in this step
        self._hooks: list = []

    def _tracked(self, model) -> list:
        return [(n, p) for n, p in model.named_parameters() if p.requires_grad and n in self.path]

    def before_training_exp(self, strategy, **kw):
        forget_plan(self)
        self.row_sparse = _row_sparse_names(strategy.model)
        self._watch_lookups(strategy.model)
        for name, param in strategy.model.named_parameters():
            if not param.requires_grad:
                continue
            value = param.detach()
            if name not in self.anchor:
                self.anchor[name], self.importance[name] = value.clone(), torch.zeros_like(value)
            elif self.anchor[name].shape != value.shape:
                self.anchor[name] = _grown(self.anchor[name], value.clone())
                self.importance[name] = _grown(self.importance[name], torch.zeros_like(value))
            self.path[name] = torch.zeros_like(value)
            if name not in self.lookups:  # an untied table keeps its looked-up rows only (before_update)
                self.previous[name] = torch.empty_like(value)

    def _watch_lookups(self, model) -> None:
        """Record the ids each untied row-sparse table looks up (a forward hook), so that a
        step's touched rows need no pass over the table's gradient."""
        self._unwatch()
        for name, module in _untied_tables(model, self.row_sparse).items():
            seen = self.lookups.setdefault(name, [])
            self._hooks.append(module.register_forward_hook(
                lambda _, args, kwargs, out, seen=seen: seen.append(args[0] if args else kwargs.get("input")),
                with_kwargs=True))

    def _unwatch(self) -> None:
        for handle in self._hooks:
            handle.remove()
        self._hooks, self.lookups = [], {}

    def before_training_iteration(self, strategy, **kw):
        for seen in self.lookups.values():
            seen.clear()
        self.step_rows = {}

    def before_update(self, strategy, **kw):
        """Keep the weights the optimizer step starts from, just before it: the whole of every
        parameter except an untied word-embedding table, of which only the rows this step's
        forward looked up (the only rows whose task gradient can be nonzero,
        :meth:`_touched_rows`); a few hundred rows instead of a copy of tens of thousands."""
        tracked = self._tracked(strategy.model)
        whole = []
        for name, param in tracked:
            seen = self.lookups.get(name)
            if seen and all(isinstance(ids, torch.Tensor) for ids in seen):
                rows = _rows_from_lookups(seen, param.device)
                self.step_rows[name] = (rows, param.detach().index_select(0, rows))
                continue
            if name not in self.previous:  # a table whose lookups the hook did not see
                self.previous[name] = torch.empty_like(param)
            whole.append((name, param))
        if whole:
            torch._foreach_copy_([self.previous[n] for n, _ in whole], [p.detach() for _, p in whole])

    def before_backward(self, strategy, **kw):
        self.penalized = False
        exp_counter = strategy.clock.train_exp_counter
        if exp_counter == 0 or not self.si_lambda:  # no importance before the first experience ends
            return
        tracked = self._tracked(strategy.model)
        plan = cached_plan(self, (exp_counter, tuple(id(p) for _, p in tracked)), lambda: PenaltyPlan([(
            [p for _, p in tracked], [self.anchor[n] for n, _ in tracked],
            [self.importance[n] for n, _ in tracked], self.si_lambda)]))
        penalty = plan()
        if penalty is not None:
            strategy.loss += penalty
            self.penalized = True

    def after_training_iteration(self, strategy, **kw):
        stepped = [(n, p) for n, p in self._tracked(strategy.model) if p.grad is not None]
        dense = [(n, p) for n, p in stepped if n not in self.row_sparse]
        given = self._penalty_gradients() if self.penalized else {}
        known = [(n, p) for n, p in dense if id(p) in given and given[id(p)].data_ptr() != p.grad.data_ptr()]
        if known:
            self._path_step_given([n for n, _ in known], [p.grad.detach() for _, p in known],
                                  [given[id(p)] for _, p in known], [p.detach() for _, p in known])
        done = {n for n, _ in known}
        other = [(n, p) for n, p in dense if n not in done]
        if other:
            self._path_step([n for n, _ in other], [p.grad.detach() for _, p in other],
                            [self.previous[n] for n, _ in other], [p.detach() for _, p in other])
        for name, param in stepped:
            if name in self.row_sparse:
                self._path_step_rows(name, param)
        self.penalized = False

    def _penalty_gradients(self) -> dict:
        """The gradient this step's penalty gave each dense parameter, by parameter id, from the
        plan that computed it (:meth:`PenaltyPlan.dense_gradients`)."""
        cached = getattr(self, "_plan_cache", None)
        return cached[1].dense_gradients() if cached is not None else {}

    def _path_step(self, names, grads, before, after) -> None:
        self._path_step_into([self.path[n] for n in names], grads, before, after,
                             [self.importance[n] for n in names], [self.anchor[n] for n in names])

    def _path_step_given(self, names, grads, penalty, after) -> None:
        """The path-integral step where the penalty's gradient ``2 c Omega (theta_before -
        theta*)`` is still in the plan's buffers: the task gradient is the step's gradient less
        that, ``omega += (g - penalty) * (before - after)``. Computed as ``omega += -1 * ((penalty
        - g) * (before - after))`` in the two buffers that the next step rewrites (the plan's and
        the weights-before copy): each float equals that of :func:`task_gradients` and
        :func:`path_integral_step` (a difference negated, times -1, is the same float), three
        passes fewer and nothing allocated. (Run piece by piece through cache-sized scratch
        buffers, as the penalty is, these three passes measured slower: docs/benchmarks.md.)"""
        before = [self.previous[n] for n in names]
        torch._foreach_sub_(before, list(after))  # before - after
        torch._foreach_sub_(list(penalty), list(grads))  # -(the task gradient)
        torch._foreach_addcmul_([self.path[n] for n in names], list(penalty), before, value=-1.0)

    def _path_step_rows(self, name, param) -> None:
        """The path-integral step of a word-embedding matrix on the rows the step's lookups
        reached (:meth:`_touched_rows`): on every other row the task gradient is exactly zero
        (the penalty's share, subtracted, is the same float as added), so the dense step would
        add exactly zero there. The same elementwise operations on the kept rows: bit for bit
        the dense result, at a few hundred rows instead of tens of thousands."""
        grad = param.grad.detach()
        rows, before = self._touched_rows(name, grad)
        if not len(rows):
            return
        pick = lambda t: t.index_select(0, rows)  # noqa: E731
        path = pick(self.path[name])
        self._path_step_into([path], [pick(grad)], [before], [pick(param.detach())],
                             [pick(self.importance[name])], [pick(self.anchor[name])])
        self.path[name].index_copy_(0, rows, path)

    def _touched_rows(self, name, grad) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows on which the step's task gradient may be nonzero, and their weights before
        the step: the ids the table looked up, when the hook saw each lookup's ids (an untied
        table, rows kept by :meth:`before_update`); else the rows of a scan of the gradient. On
        a row no lookup reached, the gradient is the penalty's alone, so the task gradient there
        is exactly 0 (its share, subtracted, is the same float as added) and the dense step adds
        exactly 0: the penalty's own rows need no step."""
        if name in self.step_rows:
            return self.step_rows[name]
        rows = _scanned_rows(grad)
        return rows, self.previous[name].index_select(0, rows)

    def _path_step_into(self, path, grads, before, after, importance, anchor) -> None:
        if self.penalized:
            grads = task_gradients(grads, importance, before, anchor, self.si_lambda)
        path_integral_step(path, grads, before, after)

    def after_training_exp(self, strategy, **kw):
        forget_plan(self)
        self._unwatch()
        tracked = self._tracked(strategy.model)
        if tracked:
            names = [n for n, _ in tracked]
            consolidate([self.importance[n] for n in names], [self.path[n] for n in names],
                        [self.anchor[n] for n in names], [p.detach() for _, p in tracked], self.eps)

    def state_dict(self, examples: bool = True) -> dict:
        """The anchor and the importance (the path integral is zero between experiences)."""
        return {"kind": "si", "anchor": {n: cpu(t) for n, t in self.anchor.items()},
                "importance": {n: cpu(t) for n, t in self.importance.items()}}

    def load_state_dict(self, state: dict, context) -> None:
        forget_plan(self)  # planned from the state being replaced
        devices = {n: p.device for n, p in context.strategy.model.named_parameters()}
        self.anchor = {n: t.to(devices.get(n, t.device)).clone() for n, t in state["anchor"].items()}
        self.importance = {n: t.to(devices.get(n, t.device)).clone() for n, t in state["importance"].items()}
        self.path, self.previous = {}, {}


class TextMASPlugin(MASPlugin):
    """Avalanche's MASPlugin with the importance of Aljundi et al. 2018 taken per example and a
    fast penalty.

    - Importance (``_get_importance``): the mean over examples of ``|d ||f(x)||_2**2 / d theta|``,
      f(x) the output vector, one gradient per example (Avalanche averages the absolute
      gradient of each minibatch's mean instead, which depends on how examples are batched),
      model in eval mode, over ``samples`` training examples drawn with the run seed's
      ``"importance-sample"`` generator (all when 0 or fewer): order-independent, as
      :mod:`strategies.importance_estimates` describes. Across experiences the importances add
      up, ``Omega = Omega_prev + Omega_new``, as the paper accumulates them (``accumulate="sum"``);
      ``accumulate="average"`` keeps Avalanche's running average
      ``Omega = alpha Omega_prev + (1 - alpha) Omega_new``.
    - Penalty: ``lambda * sum(Omega * (theta - theta*)**2)`` (the paper's, no 1/2), through a
      :class:`strategies.penalty.PenaltyPlan` built once per experience.
    """

    def __init__(self, lambda_reg: float = 1.0, alpha: float = 0.5, samples: int = 0, seed: int = 0,
                 accumulate: str = "sum"):
        super().__init__(lambda_reg=lambda_reg, alpha=alpha)
        self.samples = samples
        self.run_seed = seed
        self.accumulate = accumulate

    def _get_importance(self, strategy):
        dataset = strategy.experience.dataset
        positions = sample_positions(dataset, self.samples, self.run_seed, strategy.clock.train_exp_counter)
        values = per_example_importance(strategy.model, [dataset[i] for i in positions], squared_output_norm,
                                        "absolute", strategy.device)
        return {name: ParamData(name, init_tensor=value, device=value.device) for name, value in values.items()}

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

    def after_training_exp(self, strategy, **kw):
        forget_plan(self)
        if self.accumulate == "average":
            super().after_training_exp(strategy, **kw)
            return
        from avalanche.training.utils import copy_params_dict

        self.params = dict(copy_params_dict(strategy.model))
        self.importance = dict(self.importance or {})
        for name, new in self._get_importance(strategy).items():
            old = self.importance.get(name)
            if old is None:
                self.importance[name] = new
            else:  # a grown head: its new units start from no importance
                new.data = old.expand(new.data.shape) + new.data
                self.importance[name] = new

    def state_dict(self, examples: bool = True) -> dict:
        """The anchor parameters and the accumulated importance."""
        return {"kind": "mas", "params": param_dict_state(self.params), "importance": param_dict_state(self.importance)}

    def load_state_dict(self, state: dict, context) -> None:
        forget_plan(self)  # planned from the state being replaced
        self.params = param_dict(state["params"], context.device)
        self.importance = param_dict(state["importance"], context.device)
