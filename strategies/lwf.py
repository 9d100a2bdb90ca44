"""Learning without Forgetting: distillation from the model as it was after the last experience."""
from .registry import HyperParam, StrategyParts, register_strategy


@register_strategy(
    "lwf",
    family="distillation",
    paper="Li & Hoiem 2016, Learning without Forgetting, ECCV",
    description="Adds a distillation loss towards the previous model's outputs on the old classes. "
    "Token tagging: KL between the old and new model's softmax over the old tags (O and the old "
    "types' B and I) at every real token, as ExtendNER (Monaikul et al. 2021); multi-label: binary "
    "cross-entropy of the sigmoid outputs of the old labels against the old model's, both at "
    "temperature T.",
    hyperparams=[
        HyperParam("alpha", 1.0, "weight of the distillation loss", "Li & Hoiem 2016 (lambda_o = 1)", minimum=0),
        HyperParam("temperature", 2.0, "softmax temperature of the distillation",
                   "Li & Hoiem 2016 (T = 2)", above=0),
    ],
    task_types=("single-label", "token", "multi-label"),
)
def lwf(params, context) -> StrategyParts:
    from .lwf_plugin import EvalTeacherLwFPlugin

    return StrategyParts(plugins=[EvalTeacherLwFPlugin(params["alpha"], params["temperature"], context.task_type)])
