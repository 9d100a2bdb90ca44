"""Parameter-efficient strategies: a linear probe, one shared LoRA adapter, one adapter per task.

LoRA comes from the ``peft`` library (Hu et al. 2022); nothing of it is re-implemented here.
"""
from __future__ import annotations

from .registry import HyperParam, StrategyParts, register_strategy

LORA_PARAMS = [
    HyperParam("r", 8, "rank of the LoRA update", "Hu et al. 2022 (r = 8 on BERT-size models)", minimum=1),
    HyperParam("alpha", 16, "LoRA scaling numerator (scale = alpha / r)", "peft examples: 2r", above=0),
    HyperParam("dropout", 0.1, "dropout on the LoRA branch", "Hu et al. 2022", minimum=0, maximum=0.99),
    HyperParam("targets", "query,value", "comma-separated module names that get adapters",
               "Hu et al. 2022 (W_q, W_v)"),
]


def freeze(module) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(False)


def lora_config(params):
    from peft import LoraConfig

    return LoraConfig(r=params["r"], lora_alpha=params["alpha"], lora_dropout=params["dropout"],
                      target_modules=[t.strip() for t in params["targets"].split(",") if t.strip()])


#: A linear probe's training, chosen on validation: every setting of the grids learns each
#: experience (learning accuracy 0.78-0.92); the shorter the training, the less the probe's new
#: units crowd out the old ones, and lr 1e-3 for the default 2 epochs had the best validation ACC.
_PROBE_SOURCE = ("validation of icd10cm-chapters, tuning seeds 10-11, grids lr 1e-3..1e-2 x epochs 5, 20, then lr "
                 "3e-4, 1e-3 x epochs 2, 5 (results/reference/tuning/icd10cm-chapters/frozen/, frozen-fine/)")
PROBE_TRAINING = {"lr": (1e-3, _PROBE_SOURCE), "epochs": (2, _PROBE_SOURCE)}
#: SEQ*'s own, chosen on validation: the old classes' rows are frozen, so it trains longer than
#: the plain probe before its new units crowd out the old ones (validation ACC 0.437-0.448 for
#: lr 3e-4..1e-3 x 2-5 epochs, learning accuracy 0.83-0.89)
_SEQ_STAR_SOURCE = ("validation of icd10cm-chapters, tuning seeds 10-11, grid lr 3e-4, 1e-3, 3e-3 x epochs 2, 5 "
                    "(results/reference/tuning/icd10cm-chapters/seq-star/)")
SEQ_STAR_TRAINING = {"lr": (3e-4, _SEQ_STAR_SOURCE), "epochs": (5, _SEQ_STAR_SOURCE)}
#: LoRA's learning rate, chosen for ``lora``; ``lora-per-task`` forgets nothing, so the class stream's
#: rate (where less training forgets less) under-trains it, and it has its own from the task stream
LORA_TRAINING = {"lr": (1e-3, "validation of icd10cm-chapters, tuning seeds 10-11, grid lr 3e-4, 1e-3, 3e-3 "
                          "(results/reference/tuning/icd10cm-chapters/lora/)")}


def task_stream_lr(method: str, lr: float, grid: str, beyond: str, summary: str) -> dict:
    """A ``<method>-per-task`` learning rate and its source: a grid on icd10cm-blocks, tuning seeds
    10-11, ``beyond`` the values tried past a winning edge (in ``<method>-per-task-fine/``)."""
    folders = f"results/reference/tuning/icd10cm-blocks/{method}-per-task/"
    folders += f", {method}-per-task-fine/" if beyond else ""
    then = f", then {beyond} past that grid's winning edge" if beyond else ""
    return {"lr": (lr, f"validation of icd10cm-blocks, tuning seeds 10-11, lr {grid}{then} ({folders}): {summary}")}


LORA_PER_TASK_TRAINING = task_stream_lr("lora", 1e-2, "1e-3, 3e-3, 1e-2", "3e-2",
                                        "1e-2 has the best validation ACC (0.847; 3e-3: 0.838, 1e-3, the class "
                                        "stream's rate: 0.695, 3e-2 diverges: 0.117)")


@register_strategy(
    "frozen",
    family="PEFT",
    paper="Linear probing of a frozen pretrained encoder (e.g. Kumar et al. 2022, ICLR)",
    description="The encoder is frozen; only the (growing) head trains, at its own learning rate "
    "and for as many epochs as a linear probe needs to converge (training defaults).",
    training_defaults=PROBE_TRAINING,
)
def frozen(params, context) -> StrategyParts:
    def prepare(model):
        freeze(model.features)
        return model

    return StrategyParts(prepare_model=prepare)


@register_strategy(
    "lora",
    family="PEFT",
    paper="Hu et al. 2022, LoRA: Low-Rank Adaptation of Large Language Models, ICLR (via peft)",
    description="One LoRA adapter on the frozen encoder, trained through all experiences with "
    "the head.",
    hyperparams=LORA_PARAMS,
    training_defaults=LORA_TRAINING,
    task_types=("single-label", "token"),
)
def lora(params, context) -> StrategyParts:
    def prepare(model):
        from peft import get_peft_model

        model.features.encoder = get_peft_model(model.features.encoder, lora_config(params))
        return model

    return StrategyParts(prepare_model=prepare)


@register_strategy(
    "lora-per-task",
    family="PEFT",
    paper="Hu et al. 2022 (LoRA) as task-specific adapters, cf. Houlsby et al. 2019 and "
    "AdapterFusion (Pfeiffer et al. 2021)",
    description="A frozen encoder with one LoRA adapter and one head per task; the task id picks "
    "them at test time, so learned tasks are never changed.",
    hyperparams=LORA_PARAMS,
    scenarios=("task",),
    composable=False,
    training_defaults=LORA_PER_TASK_TRAINING,
)
def lora_per_task(params, context) -> StrategyParts:
    def prepare(model):
        from peft import get_peft_model

        from .efficient_models import PerTaskClassifier

        return PerTaskClassifier(model, lambda encoder: get_peft_model(encoder, lora_config(params)))

    return StrategyParts(prepare_model=prepare)
