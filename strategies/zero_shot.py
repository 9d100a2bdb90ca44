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


@register_strategy(
    "zero-shot",
    family="reference",
    paper="Embedding-similarity zero-shot classification (Reimers & Gurevych 2019, Sentence-BERT; "
    "Yin et al. 2019 for label-description zero-shot text classification)",
    description="No training: each text goes to the class whose name or description is most "
    "similar in the encoder's sentence embedding, among the classes seen so far.",
    hyperparams=[HyperParam("scale", 20.0, "temperature of the cosine logits (ranking unchanged)",
                            "Sentence-BERT similarity scaling", above=0)],
    scenarios=("class", "domain"),
    composable=False,
)
def zero_shot(params, context) -> StrategyParts:
    def prepare(model):
        from .zero_shot_head import ZeroShotHead

        prototypes = embed_texts(model.features, context.tokenizer, context.class_descriptions)
        model.head = ZeroShotHead(prototypes, params["scale"])
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        return model

    return StrategyParts(prepare_model=prepare, template_kwargs={"train_epochs": 0})
