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


#: where alpha and beta come from; the grid spans Buzzega et al. 2020's (alpha 0.1..1, beta 0.5, 1)
TUNED = ("validation of icd10cm-chapters, tuning seeds 10-11, alpha 0.1, 0.5 x beta 0.5, 1.0, then alpha 1 "
         "at beta 1 (results/reference/tuning/icd10cm-chapters/der/, der-fine/): alpha 0.5, beta 1.0 has the "
         "best validation ACC (0.777; alpha 1: 0.772; 0.1/1.0: 0.761; beta 0.5: 0.73)")


@register_strategy(
    "der",
    family="replay",
    paper="Buzzega et al. 2020, Dark Experience for General Continual Learning, NeurIPS (DER++)",
    description="Replays buffered examples with both their labels and their stored logits. "
    "Multi-label: the stored logits are the label units' [U], and the label losses (current and "
    "replayed) are the binary cross-entropy of the label units.",
    hyperparams=[
        HyperParam("mem_size", 500, "examples kept in the buffer", "same budget as replay", minimum=1),
        HyperParam("alpha", 0.5, "weight of the logit (MSE) loss", TUNED, minimum=0),
        HyperParam("beta", 1.0, "weight of the replayed labels' loss", TUNED, minimum=0),
    ],
    scenarios=("class", "domain"),
    composable=False,
    task_types=("single-label", "multi-label"),
)
def der(params, context) -> StrategyParts:
    from .der_template import MaskedLogitsDER, MultiLabelDER

    return StrategyParts(
        template=MultiLabelDER if context.task_type == "multi-label" else MaskedLogitsDER,
        template_kwargs={"mem_size": params["mem_size"], "batch_size_mem": context.batch_size,
                         "alpha": params["alpha"], "beta": params["beta"]},
    )
