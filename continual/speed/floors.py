"""What each strategy must do beyond naive, and what that costs at the least: its floor.

A strategy's measured cost per experience (its training seconds over naive's, (d)) says little
alone: replay at 1.9 is efficient (it trains twice the examples), EWC at 1.9 is not. The floor
is the cost of the work the method's definition requires, priced with primitives measured on the
same machine in the same benchmark (:class:`Primitives`), relative to naive's experience:

- ``step``: naive's seconds per training example at the measured experience (forward, backward
  and optimizer step, per example of a batch);
- ``forward``: seconds per example of an inference forward pass ((e)'s evaluation rate);
- ``param_pass``: one fused elementwise pass over every trainable parameter (read three
  parameter-sized tensors, write one: what a quadratic penalty's value and gradient need);
- ``encoder_pass``: the same over the parameters outside the word embeddings (a per-example
  gradient of an embedding matrix touches the rows of the example's tokens only).

:data:`WORK` states each method's extra work per step and per experience; :func:`floors` prices
it. The floor leaves out what no method can avoid but naive also skips in ways that are hard to
price (Python overhead per callback, memory allocation): a measured cost above the floor is
the implementation's overhead, the number to drive down.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional


@dataclass
class Primitives:
    """Measured unit costs (seconds) and the measured experience's sizes."""

    step: float  # per training example (naive)
    forward: float  # per example, inference
    param_pass: float  # one fused pass over all trainable parameters
    encoder_pass: float  # one fused pass over the non-embedding parameters
    examples: int  # training examples in the experience (all epochs)
    steps: int  # optimizer steps in the experience (all epochs)
    batch_size: int
    past_experiences: int  # experiences before the measured one
    tokens: float = 0.0  # mean real tokens per training text (special tokens included)
    #: mean real tokens of a memory text (the earlier experiences' texts) over a current one's: a
    #: memory batch of longer texts costs more than a current batch of as many
    memory_tokens_ratio: float = 1.0

    @property
    def naive(self) -> float:
        """Naive's seconds for the experience, as the primitives price it."""
        return self.examples * self.step


def _importance(samples_key: str) -> Callable[[Primitives, dict], float]:
    """EWC's and MAS's extra seconds: an importance pass (a forward and backward per sampled
    example, and its per-example gradient squared or made absolute and summed, one
    encoder-sized pass per example) per experience, and the penalty (one pass) per step."""

    def extra(p: Primitives, params: dict) -> float:
        n = params[samples_key]
        n = p.examples if n <= 0 else min(n, p.examples)
        return n * (p.step + p.encoder_pass) + p.steps * p.param_pass
    return extra


#: per strategy: (extra work per step, extra work per experience, its price in seconds)
WORK: dict[str, tuple[str, str, Callable[[Primitives, dict], float]]] = {
    "naive": ("none", "none", lambda p, params: 0.0),
    "expanding-heads": ("none (the head grows by a unit per class)", "none", lambda p, params: 0.0),
    "ewc": ("the penalty lambda/2 sum F (theta - theta*)**2 and its gradient: one pass over the parameters",
            "the empirical Fisher: a forward and backward per sampled example (fisher_samples), "
            "each example's gradient squared and summed", _importance("fisher_samples")),
    "online-ewc": ("the penalty: one pass over the parameters",
                   "the empirical Fisher over fisher_samples examples, folded into the running one",
                   _importance("fisher_samples")),
    "mas": ("the penalty: one pass over the parameters",
            "the importance: a forward and backward per sampled example (importance_samples), "
            "each gradient's absolute value summed", _importance("importance_samples")),
    "si": ("the path integral omega += -g * delta (the task gradient times the step's change): "
           "two passes; from the second experience the penalty: one more",
           "Omega from omega and the experience's total change: one pass",
           lambda p, params: p.steps * (2 + (p.past_experiences > 0)) * p.param_pass + p.param_pass),
    "replay": ("a memory batch as large as the current one, trained with it (priced by its texts' "
               "length)", "the buffer update (no model work)",
               lambda p, params: p.examples * p.step * p.memory_tokens_ratio),
    "der": ("a memory batch as large as the current one, with its stored logits as extra targets",
            "the buffer update (no model work)", lambda p, params: p.examples * p.step * p.memory_tokens_ratio),
    "agem": ("a forward and backward of sample_size memory examples (the reference gradient) and "
             "the projection: two passes over the parameters",
             "the memory update (no model work)",
             lambda p, params: p.steps * (params["sample_size"] * p.step * p.memory_tokens_ratio
                                          + 2 * p.param_pass)),
    "lwf": ("the previous model's forward on the batch (inference)", "a copy of the model",
            lambda p, params: p.examples * p.forward),
    # the parameter-efficient family: the backward still runs through the encoder down to the
    # lowest trained tensor, but no frozen weight gets a gradient or an optimizer update, so
    # their floor is naive's own cost at most
    **{name: ("none (fewer weight gradients and optimizer updates than naive)", "none",
              lambda p, params: 0.0) for name in ("frozen", "bitfit", "adapters", "ia3", "lora")},
    "prompt-tuning": ("virtual_tokens more positions through every layer, for every text",
                      "none", lambda p, params: p.examples * p.step * params["virtual_tokens"] / max(p.tokens, 1.0)),
    "prefix-tuning": ("virtual_tokens more keys and values in every attention (a small share of a "
                      "step at these lengths; not priced)", "none", lambda p, params: 0.0),
    "o-lora": ("the frozen adapters' low-rank branches and the orthogonality loss (rank-r products; "
               "not priced)", "a new adapter", lambda p, params: 0.0),
}


def floors(names, primitives: Primitives, params_of: Callable[[str], dict]) -> dict[str, dict]:
    """``{name: {"floor", "per_step", "per_experience"}}`` for every name that :data:`WORK`
    covers; ``floor`` is 1 + the priced extra work over naive's seconds for the experience."""
    out = {}
    for name in names:
        work = WORK.get(name)
        if work is None:
            continue
        per_step, per_experience, price = work
        out[name] = {"floor": 1 + price(primitives, params_of(name)) / primitives.naive,
                     "per_step": per_step, "per_experience": per_experience}
    return out


def cost_over_floor(relative_cost: dict, floor: dict) -> dict[str, Optional[float]]:
    """Measured relative cost / floor, per strategy with a floor."""
    return {name: relative_cost[name] / entry["floor"] for name, entry in floor.items() if name in relative_cost}
