"""Dark Experience Replay++ (Avalanche's DER template) on a masked growing head."""
from .registry import HyperParam, StrategyParts, register_strategy


def logit_targets(stored, current):
    """DER++ regression targets: stored logits where the unit was active when stored, the
    current (detached) output elsewhere (units masked then, or added to the head since)."""
    import torch

    current = current.detach()
    columns = min(stored.shape[1], current.shape[1])
    targets = torch.where(stored[:, :columns] <= -999.0, current[:, :columns], stored[:, :columns])
    return torch.cat([targets, current[:, columns:]], dim=1)


def der_template():
    """Avalanche's DER, with stored logits of then-masked units left out of the logit loss and
    length-bucketed memory batches.

    With a masked ``IncrementalClassifier`` the logits stored for classes not yet seen hold the
    mask value (-1000); regressing today's logits of those (now active) classes onto -1000 would
    dominate the loss. Those entries are replaced by the current (detached) outputs, so they add
    neither loss nor gradient, which is what DER++ means on a growing head.
    """
    import torch
    from avalanche.training import DER
    from avalanche.training.utils import cycle

    from streams.batching import BucketBatchSampler, example_lengths

    class MaskedLogitsDER(DER):
        def _before_training_exp(self, **kwargs):
            super()._before_training_exp(**kwargs)
            if self.replay_loader is not None:
                # memory batches length-bucketed too (Avalanche draws them uniformly, each padded
                # to its longest text); the generator comes from torch's global RNG, which the run
                # reseeds before each experience
                buffer = self.storage_policy.buffer
                generator = torch.Generator().manual_seed(int(torch.randint(2**31 - 1, (1,)).item()))
                sampler = BucketBatchSampler(example_lengths(buffer), self.batch_size_mem,
                                             generator=generator, drop_last=True)
                self.replay_loader = cycle(torch.utils.data.DataLoader(buffer, batch_sampler=sampler))

        def _after_forward(self, **kwargs):
            super()._after_forward(**kwargs)
            if getattr(self, "replay_loader", None) is not None:
                self.batch_logits = logit_targets(self.batch_logits, self.mb_output[: self.batch_size_mem])

    return MaskedLogitsDER


@register_strategy(
    "der",
    family="replay",
    paper="Buzzega et al. 2020, Dark Experience for General Continual Learning, NeurIPS (DER++)",
    description="Replays buffered examples with both their labels and their stored logits.",
    hyperparams=[
        HyperParam("mem_size", 500, "examples kept in the buffer", "same budget as replay"),
        HyperParam("alpha", 0.1, "weight of the logit (MSE) loss", "Buzzega et al. 2020"),
        HyperParam("beta", 0.5, "weight of the replayed labels' loss", "Buzzega et al. 2020"),
    ],
    scenarios=("class", "domain"),
    composable=False,
)
def der(params, context) -> StrategyParts:
    return StrategyParts(
        template=der_template(),
        template_kwargs={"mem_size": params["mem_size"], "batch_size_mem": context.batch_size,
                         "alpha": params["alpha"], "beta": params["beta"]},
    )
