"""The head of zero-shot: cosine similarity to fixed class prototypes.

Imported by :func:`strategies.zero_shot.zero_shot` when it prepares the model (this module
imports torch and Avalanche).
"""
from __future__ import annotations

import torch
from avalanche.models import DynamicModule


class ZeroShotHead(DynamicModule):
    """Cosine similarity to fixed class prototypes, masked to the classes seen in training
    so far (what a trained growing head could predict at that point)."""

    def __init__(self, prototypes: torch.Tensor, scale: float, mask_value: float = -1000.0):
        super().__init__()
        self.register_buffer("prototypes", prototypes)
        self.register_buffer("active_units", torch.zeros(len(prototypes), dtype=torch.int8))
        self.scale = scale
        self.mask_value = mask_value

    @torch.no_grad()
    def adaptation(self, experience):
        super().adaptation(experience)
        if self.training:
            self.active_units[list(experience.classes_in_this_experience)] = 1

    def forward(self, features, **kwargs):
        logits = self.scale * torch.nn.functional.normalize(features.float(), dim=-1) @ self.prototypes.T
        return logits.masked_fill(self.active_units == 0, self.mask_value)
