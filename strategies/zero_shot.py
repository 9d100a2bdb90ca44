"""Zero-shot classification: label-description similarity in the encoder's sentence embedding."""
from __future__ import annotations

from .registry import HyperParam, StrategyParts, register_strategy


def embed_texts(text_encoder, tokenizer, texts, *, max_length: int = 64):
    """Normalised sentence embeddings of ``texts`` with the model's own pooling."""
    import torch
    from streams.tokenization import pack

    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    x = pack(ids, max(len(i) for i in ids), tokenizer.pad_token_id or 0)
    was_training = text_encoder.training
    text_encoder.eval()
    with torch.inference_mode():
        embeddings = text_encoder(x)
    text_encoder.train(was_training)
    return torch.nn.functional.normalize(embeddings.float(), dim=-1).clone()


def zero_shot_head_class():
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

    return ZeroShotHead


@register_strategy(
    "zero-shot",
    family="reference",
    paper="Embedding-similarity zero-shot classification (Reimers & Gurevych 2019, Sentence-BERT; "
    "Yin et al. 2019 for label-description zero-shot text classification)",
    description="No training: each text goes to the class whose name or description is most "
    "similar in the encoder's sentence embedding, among the classes seen so far.",
    hyperparams=[HyperParam("scale", 20.0, "temperature of the cosine logits (ranking unchanged)",
                            "Sentence-BERT similarity scaling")],
    scenarios=("class", "domain"),
    composable=False,
)
def zero_shot(params, context) -> StrategyParts:
    def prepare(model):
        prototypes = embed_texts(model.features, context.tokenizer, context.class_descriptions)
        model.head = zero_shot_head_class()(prototypes, params["scale"])
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        return model

    return StrategyParts(prepare_model=prepare, template_kwargs={"train_epochs": 0})
