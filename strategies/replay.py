"""Experience replay with a fixed-size buffer (Avalanche's ReplayPlugin and storage policies)."""
from .registry import TASK_TYPES, HyperParam, StrategyParts, register_strategy

POLICIES = ("experience-balanced", "class-balanced", "reservoir")


def make_buffer(policy: str, mem_size: int):
    from avalanche.training.storage_policy import (
        ClassBalancedBuffer,
        ExperienceBalancedBuffer,
        ReservoirSamplingBuffer,
    )

    if policy == "experience-balanced":
        return ExperienceBalancedBuffer(max_size=mem_size, adaptive_size=True)
    if policy == "class-balanced":
        return ClassBalancedBuffer(max_size=mem_size, adaptive_size=True)
    return ReservoirSamplingBuffer(max_size=mem_size)


@register_strategy(
    "replay",
    family="replay",
    paper="Chaudhry et al. 2019, On Tiny Episodic Memories in Continual Learning (experience replay)",
    description="Each training batch is joined by a batch drawn from a fixed-size buffer of past "
    "examples.",
    hyperparams=[
        HyperParam("mem_size", 500, "examples kept in the buffer (all experiences together)",
                   "about 12% of the default stream's 4200 training texts; Buzzega et al. 2020 evaluate 200, 500 and 5120", minimum=1),
        HyperParam("policy", "experience-balanced", "which examples the buffer keeps",
                   "Avalanche ReplayPlugin default", choices=POLICIES),
    ],
    # the buffers group examples by their Avalanche target (a class id, for a tagged sentence or a
    # label set the class it was sampled for) and keep y as it is: a tag sequence [L] or a
    # multi-hot row [K] replays as a class id does
    task_types=TASK_TYPES,
)
def replay(params, context) -> StrategyParts:
    from .replay_plugin import BucketedReplayPlugin

    buffer = make_buffer(params["policy"], params["mem_size"])
    plugin = BucketedReplayPlugin(mem_size=params["mem_size"], storage_policy=buffer,
                                  batch_size=context.batch_size, batch_size_mem=context.batch_size)
    return StrategyParts(plugins=[plugin])
