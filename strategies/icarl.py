"""iCaRL: herding exemplars, sigmoid distillation, nearest-mean-of-exemplars classification.

Built from Avalanche's parts (``TrainEvalModel``, ``NCMClassifier``, ``ICaRLLossPlugin``,
``ParametricBuffer`` with ``HerdingSelectionStrategy``, ``compute_class_means``). Avalanche's own
``ICaRL`` template reads ``benchmark.n_classes_per_exp`` and ``classes_order``, which the 0.6.0
scenario API (``benchmark_from_datasets``) no longer has, so the template is not used.
"""
from __future__ import annotations

from .registry import HyperParam, StrategyParts, register_strategy


def icarl_parts(params, context, model):
    """iCaRL's model (features, training head, nearest-mean classifier), its plugins (herding
    replay, class means) and its distillation criterion."""
    from avalanche.models import TrainEvalModel
    from avalanche.training.storage_policy import (
        HerdingSelectionStrategy,
        ParametricBuffer,
    )

    from .icarl_parts import EvalDropoutICaRLLoss, ExemplarMeans, PaddedNCM
    from .replay_plugin import BucketedReplayPlugin

    icarl_model = TrainEvalModel(model.features, train_classifier=model.head,
                                 eval_classifier=PaddedNCM(context.n_classes, normalize=True))
    buffer = ParametricBuffer(params["mem_size"], groupby="class",
                              selection_strategy=HerdingSelectionStrategy(icarl_model, "feature_extractor"))
    replay = BucketedReplayPlugin(mem_size=params["mem_size"], storage_policy=buffer,
                                  batch_size=context.batch_size, batch_size_mem=context.batch_size)
    return icarl_model, [replay, ExemplarMeans(buffer)], EvalDropoutICaRLLoss()


@register_strategy(
    "icarl",
    family="replay",
    paper="Rebuffi et al. 2017, iCaRL: Incremental Classifier and Representation Learning, CVPR",
    description="Herding-selected exemplars replayed with sigmoid distillation; prediction by "
    "the nearest mean of exemplars.",
    hyperparams=[HyperParam("mem_size", 500, "exemplars kept (all classes together)", "same budget as replay", minimum=1)],
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
