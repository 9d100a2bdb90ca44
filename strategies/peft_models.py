"""The model of lora-per-task: a frozen encoder with one peft LoRA adapter per task.

Imported by :func:`strategies.peft_strategies.lora_per_task` when it prepares the model (this
module imports Avalanche).
"""
from __future__ import annotations

from avalanche.models import MultiTaskModule

from .peft_strategies import freeze, lora_config


class LoraPerTaskClassifier(MultiTaskModule):
    """A frozen encoder with one peft LoRA adapter per task, picked by the task id.

    A new task gets a fresh adapter when Avalanche adapts the model to it. While training an
    experience only its own adapter (and its own head) has gradients, so the adapters and
    heads of tasks already learned never change: no forgetting by construction.
    """

    def __init__(self, model, params):
        from peft import get_peft_model

        super().__init__()
        self.params = dict(params)
        self.features = model.features
        self.head = model.head
        freeze(self.features.encoder)
        self.features.encoder = get_peft_model(self.features.encoder, lora_config(params),
                                               adapter_name="task0")

    def adaptation(self, experience):
        super().adaptation(experience)
        peft_model = self.features.encoder
        tasks = sorted(getattr(experience, "task_labels", [0]))
        for task in tasks:
            if f"task{task}" not in peft_model.peft_config:
                peft_model.add_adapter(f"task{task}", lora_config(self.params))
        if self.training:
            current = {f"task{t}" for t in tasks}
            for name, parameter in peft_model.named_parameters():
                if "lora_" in name:
                    parameter.requires_grad_(name.split(".")[-2] in current)

    def forward_single_task(self, x, task_label):
        # peft's set_adapter activates (and un-freezes) only this task's adapter
        self.features.encoder.base_model.set_adapter(f"task{task_label}")
        return self.head(self.features(x), task_label)
