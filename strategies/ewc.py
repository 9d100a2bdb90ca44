"""Elastic Weight Consolidation, separate and online (Avalanche's EWCPlugin, made fast for text)."""
from .registry import HyperParam, StrategyParts, register_strategy

_LAMBDA_HELP = (
    "weight of the quadratic penalty; the Fisher importances of a pretrained encoder are tiny, so "
    "text models need a far larger value than the vision papers"
)
_SAMPLES_HELP = (
    "examples drawn (seeded, without replacement) from each experience's training set for the "
    "Fisher importance pass; 0 = all of them (Avalanche's default)"
)
FISHER_SAMPLES = 256
#: padded tokens that one more forward and backward call is worth in the importance pass
GROUP_OVERHEAD = 128


def _sum_product(a, b, chunk: int = 1 << 20) -> float:
    """``sum(a * b)`` accumulated in float64, a million elements at a time: no float64 copy of a
    parameter-sized tensor (three of them, 94 MB each, for MiniLM's word embeddings). Feeds only
    the penalty's constant, which moves the loss value, never a gradient."""
    import torch

    a, b = a.reshape(-1), b.reshape(-1)
    return float(sum(torch.sum(a[i:i + chunk] * b[i:i + chunk], dtype=torch.float64)
                     for i in range(0, len(a), chunk)))


def text_ewc_plugin(*, fisher_samples: int, seed: int, **kwargs):
    """Avalanche's EWCPlugin with the same importances and penalty, computed faster.

    - The penalty (``before_backward``) goes through a :class:`strategies.penalty.PenaltyPlan`
      built once per experience (``_plan``): same value and gradient, multi-tensor kernels
      instead of a per-tensor autograd graph, and only the embedding rows with some importance;
      separate mode merges its per-experience penalties into one (``_merged``) and folds the
      per-experience importances and anchors into two sums (``_fold``), so a step costs the same
      time, and the plugin holds the same memory, after 2 or 10 experiences.
    - The importance pass (``compute_importances``) keeps Avalanche's estimate (the mean over
      minibatches of the squared minibatch gradient, model in eval mode, batches of consecutive
      examples in the dataset's order) on a seeded subsample of ``fisher_samples`` training
      examples (kept in dataset order) instead of all of them; 0 means all, Avalanche's estimate.
      Each batch runs in pieces of similar length (:func:`streams.batching.length_groups`),
      each cut to its own longest text, their gradients summed into the batch's: consecutive
      examples vary in length, and one padded batch cost about twice the tokens.
    """
    import torch
    from avalanche.models.utils import avalanche_forward
    from avalanche.training.plugins import EWCPlugin
    from avalanche.training.utils import ParamData, zerolike_params_dict

    from streams.batching import length_groups
    from streams.seeds import derived_seed

    from .penalty import PenaltyPlan, cached_plan

    class TextEWCPlugin(EWCPlugin):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # separate mode, after two or more experiences: their importances and anchors folded
            # into sums (see _fold), so memory does not grow with the number of experiences
            self.total_importance: dict = {}  # name -> ParamData, sum_k F_k
            self.weighted_anchor: dict = {}  # name -> ParamData, sum_k F_k theta_k
            self.folded_square = 0.0  # sum over k and parameters of F_k theta_k**2 (float64)

        def before_backward(self, strategy, **kw):
            exp_counter = strategy.clock.train_exp_counter
            if exp_counter == 0:
                return
            self._fold()
            plan, constant = self._plan(strategy.model, exp_counter)
            penalty = plan()
            if penalty is not None:
                strategy.loss += penalty + float(self.ewc_lambda) * constant

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
            return PenaltyPlan([(*term, float(self.ewc_lambda)) for term in terms]), constant

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
            self._plan_cache = None
            self._seed = derived_seed(seed, "importance-sample", strategy.clock.train_exp_counter)
            super().after_training_exp(strategy, **kw)
            self._fold()

        def compute_importances(self, model, criterion, optimizer, dataset, device, batch_size, num_workers=0):
            indices = list(range(len(dataset)))
            if fisher_samples and fisher_samples < len(dataset):
                generator = torch.Generator().manual_seed(getattr(self, "_seed", 0))
                indices = sorted(torch.randperm(len(dataset), generator=generator)[:fisher_samples].tolist())
            # Avalanche's batches: consecutive examples in the dataset's order. The estimate
            # depends on how examples are grouped into batches (the square of a batch's mean
            # gradient), and our experiences list texts by code, hence mostly by class; shuffled
            # or length-bucketed batches gave a smaller Fisher and undid the tuned lambda.
            loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, indices), batch_size=batch_size)
            model.eval()
            importances = zerolike_params_dict(model)
            slots = [imp.data for imp in importances.values()]
            for batch in loader:
                x, y, task_labels = batch[0].to(device), batch[1].to(device), batch[-1]
                optimizer.zero_grad()
                # the batch's mean loss, run in pieces of similar length (each cut to its own
                # longest text) whose gradients add up to the batch's: the same estimate at
                # about half the padded tokens (no dropout in eval mode, so no randomness moves)
                lengths = x[:, 1].sum(dim=1).tolist() if x.dim() == 3 else [1] * len(y)
                for group in length_groups(lengths, overhead=GROUP_OVERHEAD):
                    index = torch.as_tensor(group, device=x.device)
                    task = task_labels[index.cpu()] if torch.is_tensor(task_labels) else task_labels
                    out = avalanche_forward(model, x[index], task)
                    (criterion(out, y[index]) * (len(group) / len(y))).backward()
                pairs = [(imp, p.grad) for imp, p in zip(slots, model.parameters()) if p.grad is not None]
                if pairs:
                    torch._foreach_addcmul_([a for a, _ in pairs], [g for _, g in pairs], [g for _, g in pairs])
            torch._foreach_div_(slots, float(max(len(loader), 1)))
            # the last piece's gradients are not needed (the next training step starts from
            # zero_grad): freed now, they do not sit beside the copies made next
            model.zero_grad(set_to_none=True)
            model.train()
            return importances

    return TextEWCPlugin(**kwargs)


@register_strategy(
    "ewc",
    family="regularization",
    paper="Kirkpatrick et al. 2017, Overcoming catastrophic forgetting in neural networks, PNAS",
    description="Quadratic penalty on parameter drift, weighted by the Fisher information of "
    "each past experience (kept as one merged penalty: memory does not grow with experiences).",
    hyperparams=[
        HyperParam("lambda", 1e6, _LAMBDA_HELP, "sweep 1e3..1e7 on icd10cm-chapters (README)"),
        HyperParam("fisher_samples", 0, _SAMPLES_HELP,
                   "Avalanche's full pass, on which lambda was tuned; 512 is faster (README)", minimum=0),
    ],
)
def ewc(params, context) -> StrategyParts:
    plugin = text_ewc_plugin(ewc_lambda=params["lambda"], mode="separate",
                             fisher_samples=params["fisher_samples"], seed=context.seed)
    return StrategyParts(plugins=[plugin])


@register_strategy(
    "online-ewc",
    family="regularization",
    paper="Schwarz et al. 2018, Progress & Compress, ICML (online EWC)",
    description="EWC with one running importance copy, decayed at each experience.",
    hyperparams=[
        HyperParam("lambda", 1e6, _LAMBDA_HELP, "sweep 1e3..1e7 on icd10cm-chapters (README)"),
        HyperParam("decay", 0.9, "decay of the running importance (gamma)", "Schwarz et al. 2018"),
        HyperParam("fisher_samples", FISHER_SAMPLES, _SAMPLES_HELP,
                   "a subsample for speed (the issue's cost target); effect on accuracy in the README",
                   minimum=0),
    ],
)
def online_ewc(params, context) -> StrategyParts:
    plugin = text_ewc_plugin(ewc_lambda=params["lambda"], mode="online", decay_factor=params["decay"],
                             fisher_samples=params["fisher_samples"], seed=context.seed)
    return StrategyParts(plugins=[plugin])
