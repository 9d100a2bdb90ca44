"""Online importance regularizers: Synaptic Intelligence and Memory Aware Synapses."""
from .registry import HyperParam, StrategyParts, register_strategy


@register_strategy(
    "si",
    family="regularization",
    paper="Zenke, Poole & Ganguli 2017, Continual Learning Through Synaptic Intelligence, ICML",
    description="Quadratic penalty weighted by each parameter's contribution to the loss decrease "
    "along its training path (Avalanche SynapticIntelligencePlugin, its state kept in copies).",
    hyperparams=[
        HyperParam("lambda", 1.0, "weight of the surrogate loss (c in the paper)",
                   "Zenke et al. 2017 used c in [0.1, 1]; see README for text models"),
        HyperParam("eps", 1e-7, "damping of the importance denominator", "Zenke et al. 2017 (xi)"),
    ],
)
def si(params, context) -> StrategyParts:
    from .importance_plugins import TextSIPlugin

    return StrategyParts(plugins=[TextSIPlugin(si_lambda=params["lambda"], eps=params["eps"])])


@register_strategy(
    "mas",
    family="regularization",
    paper="Aljundi et al. 2018, Memory Aware Synapses: Learning what (not) to forget, ECCV",
    description="Quadratic penalty weighted by the sensitivity of the output norm to each "
    "parameter (Avalanche MASPlugin).",
    hyperparams=[
        HyperParam("lambda", 1.0, "weight of the penalty", "Aljundi et al. 2018 (lambda = 1)"),
        HyperParam("alpha", 0.5, "decay of the running importance", "Avalanche MASPlugin default"),
    ],
)
def mas(params, context) -> StrategyParts:
    from .importance_plugins import TextMASPlugin

    return StrategyParts(plugins=[TextMASPlugin(lambda_reg=params["lambda"], alpha=params["alpha"])])
