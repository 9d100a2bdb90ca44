"""The modules of the parameter-efficient family: BitFit's trainable biases, bottleneck adapters,
peft's prompt tuning, prefix tuning, IA3 and LoRA, O-LoRA's growing set of orthogonal LoRA
adapters, and the per-task model that keeps one set of trainable tensors per task.

Imported by the builders of :mod:`strategies.efficient` and :mod:`strategies.peft_strategies`
when they prepare a model (this module imports torch, peft and Avalanche).
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from avalanche.models import DynamicModule, MultiTaskModule
from torch import nn


def freeze(module: nn.Module) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(False)


# --------------------------------------------------------------------------- BitFit

def attach_bitfit(encoder: nn.Module) -> nn.Module:
    """Ben Zaken et al. 2022: every bias term of the encoder trains, every other weight is frozen."""
    for name, parameter in encoder.named_parameters():
        parameter.requires_grad_(name == "bias" or name.endswith(".bias"))
    return encoder


# --------------------------------------------------------------------------- adapters

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "swish": nn.SiLU}


class Adapter(nn.Module):
    """A bottleneck adapter (Houlsby et al. 2019): ``h + up(act(down(h)))``, ``up`` starting at
    zero, so the adapted encoder starts as the pretrained one (Houlsby et al.'s near-identity
    initialization; ``down`` drawn with a small standard deviation, 1e-2 of a unit)."""

    def __init__(self, width: int, bottleneck: int, activation: str):
        super().__init__()
        self.down = nn.Linear(width, bottleneck)
        self.act = ACTIVATIONS[activation]()
        self.up = nn.Linear(bottleneck, width)
        nn.init.normal_(self.down.weight, std=1e-2)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(self.act(self.down(h)))


class AdaptedLinear(nn.Module):
    """A frozen projection followed by an adapter: where Houlsby et al. put them, after the
    attention's and the feed-forward block's output projections, before the residual sum and
    layer norm that BERT applies next."""

    def __init__(self, base: nn.Linear, bottleneck: int, activation: str):
        super().__init__()
        self.base = base
        self.adapter = Adapter(base.out_features, bottleneck, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.base(x))


def adapter_sites(encoder: nn.Module, variant: str) -> list[tuple[nn.Module, str, str]]:
    """(parent, attribute, dotted name) of each projection that gets an adapter: in every layer
    the attention output (``attention.output.dense``, Houlsby only) and the feed-forward output
    (``output.dense``), as BERT-family encoders name them."""
    sites = []
    for name, module in encoder.named_modules():
        if not isinstance(module, nn.Linear) or not name.endswith("output.dense"):
            continue
        attention = name.endswith("attention.output.dense")
        if attention and variant != "houlsby":
            continue
        parent_name, _, attribute = name.rpartition(".")
        sites.append((encoder.get_submodule(parent_name), attribute, name))
    return sites


def attach_adapters(encoder: nn.Module, bottleneck: int, variant: str, activation: str) -> nn.Module:
    """Freeze the encoder and put an adapter after each site of :func:`adapter_sites`."""
    freeze(encoder)
    sites = adapter_sites(encoder, variant)
    if not sites:
        raise ValueError("this encoder has no BERT-style output.dense projections to put adapters after")
    for parent, attribute, _ in sites:
        setattr(parent, attribute, AdaptedLinear(getattr(parent, attribute), bottleneck, activation))
    return encoder


# --------------------------------------------------------------------------- peft methods

def check_positions(encoder_config, virtual: int, max_length: Optional[int], method: str) -> None:
    """A prompt or prefix of ``virtual`` tokens and texts of ``max_length`` must fit the
    encoder's positions; a ValueError that says how far to shorten otherwise."""
    limit = getattr(encoder_config, "max_position_embeddings", None)
    if not virtual or limit is None or max_length is None or max_length + virtual <= limit:
        return
    raise ValueError(f"--max-length {max_length} plus {method}'s {virtual} virtual tokens exceeds the "
                     f"encoder's {limit} positions: use --max-length {limit - virtual} or less, or fewer "
                     f"virtual tokens")


# --------------------------------------------------------------------------- one set per task

class PerTaskClassifier(MultiTaskModule):
    """A frozen encoder with a parameter-efficient method whose trainable tensors (and head) are
    kept once per task and selected by the task id: training an experience changes only its own
    task's set, so learned tasks are never changed (no forgetting by construction).

    The method's live tensors serve the task in use; each task's set is kept in buffers
    (``slot<t>_<i>``, part of the model's state, so checkpoints and saved models hold them) and
    copied in when another task is used. A task gets its set when it starts training, from the
    method's initial values; a task not trained yet is answered with those values.
    """

    def __init__(self, model: nn.Module, attach: Callable[[nn.Module], nn.Module]):
        super().__init__()
        self.features = model.features
        self.head = model.head
        freeze(self.features.encoder)
        self.features.encoder = attach(self.features.encoder)
        self.method_params = [p for p in self.features.encoder.parameters() if p.requires_grad]
        self._initial = [p.detach().clone() for p in self.method_params]
        self.register_buffer("live_task", torch.tensor(-1))
        self.tasks: list[int] = []

    def adaptation(self, experience):
        super().adaptation(experience)
        if not self.training:  # a task is stored once it trains; before, it is answered from the initial values
            return
        for task in sorted(getattr(experience, "task_labels", [0])):
            if task not in self.tasks:
                self.tasks.append(task)
                for i, initial in enumerate(self._initial):
                    self.register_buffer(f"slot{task}_{i}", initial.clone().to(self.method_params[i].device))

    def _use(self, task: int) -> None:
        live = int(self.live_task)
        if live == task:
            return
        with torch.no_grad():
            if live in self.tasks:  # keep what the live tensors learned for their task
                for i, param in enumerate(self.method_params):
                    getattr(self, f"slot{live}_{i}").copy_(param)
            for i, param in enumerate(self.method_params):
                param.copy_(getattr(self, f"slot{task}_{i}") if task in self.tasks else self._initial[i])
            self.live_task.fill_(task)

    def forward_single_task(self, x, task_label):
        self._use(int(task_label))
        return self.head(self.features(x), task_label)


# --------------------------------------------------------------------------- O-LoRA

class OrthogonalLoRA(DynamicModule):
    """O-LoRA (Wang et al. 2023): a new LoRA adapter (peft) for each experience, the earlier ones
    frozen, all of them active at once (their updates add up), so no task id is needed at test
    time. :func:`orthogonality_penalty` keeps the new adapter's subspace apart from the old ones."""

    def __init__(self, peft_model: nn.Module, make_config: Callable[[], object]):
        super().__init__()
        self.peft_model = peft_model
        self.make_config = make_config
        self.config = peft_model.config
        self.adapters = ["exp0"]

    def adaptation(self, experience):
        super().adaptation(experience)
        if not self.training:
            return
        current = experience.current_experience
        name = f"exp{current}"
        if name not in self.peft_model.peft_config:
            self.peft_model.add_adapter(name, self.make_config())
            self.adapters.append(name)
        self.peft_model.base_model.set_adapter(list(self.adapters))
        for key, parameter in self.peft_model.named_parameters():
            if "lora_" in key:
                parameter.requires_grad_(f".{name}." in key or key.endswith(f".{name}"))

    def forward(self, *args, **kwargs):
        return self.peft_model(*args, **kwargs)

    def lora_pairs(self, name: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(A, B) of adapter ``name`` in every adapted layer, A of shape [r, in]."""
        pairs = []
        for module in self.peft_model.modules():
            if hasattr(module, "lora_A") and name in module.lora_A:
                pairs.append((module.lora_A[name].weight, module.lora_B[name].weight))
        return pairs


def orthogonality_penalty(olora: OrthogonalLoRA, orth: float, l2: float) -> Optional[torch.Tensor]:
    """Wang et al. 2023, eq. 6-7: ``orth * sum over old adapters i and layers of ||A_i A_t^T||^2``
    (every entry of the overlap of the new subspace A_t with each old one), plus ``l2`` times the
    squared norm of the new adapter's weights; None before the second experience."""
    if len(olora.adapters) < 2:
        return None
    newest = olora.adapters[-1]
    new_pairs = olora.lora_pairs(newest)
    total = None
    for old in olora.adapters[:-1]:
        for (a_old, _), (a_new, _) in zip(olora.lora_pairs(old), new_pairs):
            term = (a_old.detach() @ a_new.T).pow(2).sum()
            total = term if total is None else total + term
    total = orth * total
    if l2:
        total = total + l2 * sum(a.pow(2).sum() + b.pow(2).sum() for a, b in new_pairs)
    return total
