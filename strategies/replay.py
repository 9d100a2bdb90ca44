"""Experience replay with a fixed-size buffer (Avalanche's ReplayPlugin and storage policies)."""
from .registry import HyperParam, StrategyParts, register_strategy

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


def bucketed_replay_plugin(**kwargs):
    """Avalanche's ReplayPlugin (same buffer, same update) with length-bucketed current and
    memory batches (:class:`streams.batching.BucketedReplayLoader`). The loader's generator is
    drawn from torch's global RNG, which the run reseeds before each experience."""
    import torch
    from avalanche.training.plugins import ReplayPlugin

    from streams.batching import BucketedReplayLoader

    class BucketedReplayPlugin(ReplayPlugin):
        def before_training_exp(self, strategy, num_workers=0, shuffle=True, drop_last=False, **kw):
            if len(self.storage_policy.buffer) == 0:
                return
            generator = torch.Generator().manual_seed(int(torch.randint(2**31 - 1, (1,)).item()))
            strategy.dataloader = BucketedReplayLoader(
                strategy.adapted_dataset, self.storage_policy.buffer,
                batch_size=self.batch_size or strategy.train_mb_size,
                batch_size_mem=self.batch_size_mem or strategy.train_mb_size, generator=generator)

    return BucketedReplayPlugin(**kwargs)


@register_strategy(
    "replay",
    family="replay",
    paper="Chaudhry et al. 2019, On Tiny Episodic Memories in Continual Learning (experience replay)",
    description="Each training batch is joined by a batch drawn from a fixed-size buffer of past "
    "examples.",
    hyperparams=[
        HyperParam("mem_size", 500, "examples kept in the buffer (all experiences together)",
                   "about 24% of the default stream's 2100 training texts; see README"),
        HyperParam("policy", "experience-balanced", "which examples the buffer keeps",
                   "Avalanche ReplayPlugin default", choices=POLICIES),
    ],
)
def replay(params, context) -> StrategyParts:
    buffer = make_buffer(params["policy"], params["mem_size"])
    plugin = bucketed_replay_plugin(mem_size=params["mem_size"], storage_policy=buffer,
                                    batch_size=context.batch_size, batch_size_mem=context.batch_size)
    return StrategyParts(plugins=[plugin])
