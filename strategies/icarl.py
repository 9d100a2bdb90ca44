"""iCaRL: herding exemplars, sigmoid distillation, nearest-mean-of-exemplars classification.

Built from Avalanche's parts (``TrainEvalModel``, ``NCMClassifier``, ``ICaRLLossPlugin``,
``ParametricBuffer`` with ``HerdingSelectionStrategy``, ``compute_class_means``). Avalanche's own
``ICaRL`` template reads ``benchmark.n_classes_per_exp`` and ``classes_order``, which the 0.6.0
scenario API (``benchmark_from_datasets``) no longer has, so the template is not used.
"""
from __future__ import annotations

from .registry import HyperParam, StrategyParts, register_strategy


def icarl_parts(params, context, model):
    import torch
    from avalanche.core import SupervisedPlugin
    from avalanche.models import NCMClassifier, TrainEvalModel
    from avalanche.training.losses import ICaRLLossPlugin

    from .replay import bucketed_replay_plugin
    from avalanche.training.plugins.update_ncm import compute_class_means
    from avalanche.training.storage_policy import HerdingSelectionStrategy, ParametricBuffer

    n_classes = context.n_classes

    class PaddedNCM(NCMClassifier):
        """NCM scores for every class id: classes without exemplars yet get -1000, as a masked
        head does (and before any training, every class does)."""

        def forward(self, x):
            scores = torch.full((len(x), n_classes), -1000.0, device=x.device)
            if self.class_means_dict:
                out = super().forward(x)
                known = torch.tensor(sorted(self.class_means_dict), device=x.device)
                scores[:, known] = out[:, known]
            return scores

    class EvalDropoutICaRLLoss(ICaRLLossPlugin):
        """The teacher keeps its training head (TrainEvalModel picks heads by mode) but with
        dropout off, so its soft targets are deterministic."""

        def after_training_exp(self, strategy, **kwargs):
            super().after_training_exp(strategy, **kwargs)
            self.old_model.train()
            for module in self.old_model.modules():
                if isinstance(module, torch.nn.Dropout):
                    module.eval()
            for parameter in self.old_model.parameters():
                parameter.requires_grad_(False)

    icarl_model = TrainEvalModel(model.features, train_classifier=model.head,
                                 eval_classifier=PaddedNCM(normalize=True))
    buffer = ParametricBuffer(params["mem_size"], groupby="class",
                              selection_strategy=HerdingSelectionStrategy(icarl_model, "feature_extractor"))
    replay = bucketed_replay_plugin(mem_size=params["mem_size"], storage_policy=buffer,
                                    batch_size=context.batch_size, batch_size_mem=context.batch_size)

    class ExemplarMeans(SupervisedPlugin):
        """After the buffer is updated, class means come from the exemplars (iCaRL's NME)."""

        def after_training_exp(self, strategy, **kwargs):
            means = compute_class_means(strategy.model, buffer.buffer, strategy.eval_mb_size,
                                        normalize=True, device=strategy.device)
            strategy.model.eval_classifier.replace_class_means_dict(means)
            strategy.model.train()

    return icarl_model, [replay, ExemplarMeans()], EvalDropoutICaRLLoss()


@register_strategy(
    "icarl",
    family="replay",
    paper="Rebuffi et al. 2017, iCaRL: Incremental Classifier and Representation Learning, CVPR",
    description="Herding-selected exemplars replayed with sigmoid distillation; prediction by "
    "the nearest mean of exemplars.",
    hyperparams=[HyperParam("mem_size", 500, "exemplars kept (all classes together)", "same budget as replay")],
    scenarios=("class",),
    composable=False,
)
def icarl(params, context) -> StrategyParts:
    parts = StrategyParts()

    def prepare(model):
        icarl_model, plugins, criterion = icarl_parts(params, context, model)
        parts.plugins.extend(plugins)
        parts.template_kwargs["criterion"] = criterion
        return icarl_model

    parts.prepare_model = prepare
    return parts
