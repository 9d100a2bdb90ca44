"""O-LoRA's plugin: the orthogonality loss added to each training step's loss.

Imported by :func:`strategies.efficient.o_lora` when it builds the strategy (this module imports
Avalanche).
"""
from __future__ import annotations

from avalanche.core import SupervisedPlugin

from .efficient_models import OrthogonalLoRA, orthogonality_penalty


class OrthogonalityPlugin(SupervisedPlugin):
    """Adds :func:`strategies.efficient_models.orthogonality_penalty` of the model's
    :class:`OrthogonalLoRA` to the loss before each backward pass. Stateless: the adapters are
    the model's."""

    def __init__(self, orth: float, l2: float):
        super().__init__()
        self.orth, self.l2 = float(orth), float(l2)

    def before_backward(self, strategy, **kwargs):
        olora = next((m for m in strategy.model.modules() if isinstance(m, OrthogonalLoRA)), None)
        if olora is None:
            return
        penalty = orthogonality_penalty(olora, self.orth, self.l2)
        if penalty is not None:
            strategy.loss += penalty

    def state_dict(self, examples: bool = True) -> dict:
        return {"kind": "o-lora"}

    def load_state_dict(self, state: dict, context) -> None:
        pass
