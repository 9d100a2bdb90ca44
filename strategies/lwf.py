"""Learning without Forgetting: distillation from the model as it was after the last experience."""
from .registry import HyperParam, StrategyParts, register_strategy


def make_lwf_plugin(alpha: float, temperature: float):
    """Avalanche's LwFPlugin with the teacher in eval mode.

    Avalanche 0.6.0 deep-copies the student in train mode, so dropout stays on in the teacher and
    its soft targets are noisy; Li & Hoiem record the old model's responses deterministically.
    """
    from avalanche.training import LearningWithoutForgetting
    from avalanche.training.plugins import LwFPlugin

    class EvalTeacherLwF(LearningWithoutForgetting):
        def post_adapt(self, agent, exp):
            super().post_adapt(agent, exp)
            self.prev_model.eval()
            for parameter in self.prev_model.parameters():
                parameter.requires_grad_(False)

    plugin = LwFPlugin(alpha=alpha, temperature=temperature)
    plugin.lwf = EvalTeacherLwF(alpha=alpha, temperature=temperature)
    return plugin


@register_strategy(
    "lwf",
    family="distillation",
    paper="Li & Hoiem 2016, Learning without Forgetting, ECCV",
    description="Adds a distillation loss towards the previous model's outputs on the old classes.",
    hyperparams=[
        HyperParam("alpha", 1.0, "weight of the distillation loss", "Li & Hoiem 2016 (lambda_o = 1)"),
        HyperParam("temperature", 2.0, "softmax temperature of the distillation",
                   "Li & Hoiem 2016 (T = 2)"),
    ],
)
def lwf(params, context) -> StrategyParts:
    return StrategyParts(plugins=[make_lwf_plugin(params["alpha"], params["temperature"])])
