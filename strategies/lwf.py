"""Learning without Forgetting: distillation from the model as it was after the last experience."""
from .registry import HyperParam, StrategyParts, register_strategy


#: where alpha and T come from; the grid starts at the paper's lambda_o = 1, T = 2
TUNED = ("validation of icd10cm-chapters, tuning seeds 10-11, alpha 1, 2, 4 x T 1, 2, then alpha 8, 16 at "
         "T 1 (results/reference/tuning/icd10cm-chapters/lwf/, lwf-fine/): alpha 4, T 1 has the best "
         "validation ACC (0.239; the paper's 1 and 2: 0.203; alpha 8: 0.218, 16: 0.184)")


@register_strategy(
    "lwf",
    family="distillation",
    paper="Li & Hoiem 2016, Learning without Forgetting, ECCV",
    description="Adds a distillation loss towards the previous model's outputs on the old classes. "
    "Token tagging, as ExtendNER (Monaikul et al. 2021): after the first experience a word the new "
    "data tags O (perhaps an old type's entity) learns the old model's distribution over its tags "
    "(KL at temperature T, the new types' tags at 0) instead of the cross-entropy towards O, which "
    "only the words tagged with a new type keep; multi-label: binary cross-entropy of the sigmoid "
    "outputs of the old labels against the old model's, both at temperature T.",
    hyperparams=[
        HyperParam("alpha", 4.0, "weight of the distillation loss (Li & Hoiem's lambda_o)", TUNED, minimum=0),
        HyperParam("temperature", 1.0, "softmax temperature of the distillation (Li & Hoiem use 2)", TUNED,
                   above=0),
    ],
    task_types=("single-label", "token", "multi-label"),
)
def lwf(params, context) -> StrategyParts:
    from .lwf_plugin import EvalTeacherLwFPlugin, TokenLwFPlugin

    if context.task_type == "token":
        return StrategyParts(plugins=[TokenLwFPlugin(params["alpha"], params["temperature"])])
    return StrategyParts(plugins=[EvalTeacherLwFPlugin(params["alpha"], params["temperature"], context.task_type)])
