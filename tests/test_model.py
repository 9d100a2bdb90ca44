import torch

from continual.model import TextClassifier, TextEncoder, build_model, load_encoder_and_tokenizer, trim_to_longest
from streams.tokenization import pack


def _batch(tokenizer, texts, length=24):
    ids = tokenizer(texts, truncation=True, max_length=length)["input_ids"]
    return pack(ids, length, tokenizer.pad_token_id)


def test_pack_layout(tiny_model_dir):
    _, tokenizer = load_encoder_and_tokenizer(tiny_model_dir)
    x = _batch(tokenizer, ["asthma wheeze", "glucose insulin thirst diabetes"])
    assert x.shape == (2, 2, 24) and x.dtype == torch.long
    assert x[0, 1].sum() == len(tokenizer("asthma wheeze")["input_ids"])
    ids, mask = trim_to_longest(x)
    assert ids.shape[1] == int(x[:, 1].sum(1).max())


def test_forward_on_packed_input_and_trimming_changes_nothing(tiny_model_dir):
    encoder, tokenizer = load_encoder_and_tokenizer(tiny_model_dir)
    model = build_model(encoder, head="fixed", n_classes=3, pooling="mean").eval()
    x = _batch(tokenizer, ["asthma wheeze", "glucose insulin thirst diabetes", "rash"])
    with torch.no_grad():
        logits = model(x)
        # the same texts without trimming: run the encoder over all 24 positions
        full = model.features.encoder(input_ids=x[:, 0], attention_mask=x[:, 1]).last_hidden_state
        mask = x[:, 1].unsqueeze(-1).float()
        untrimmed = model.head((full * mask).sum(1) / mask.sum(1))
    assert logits.shape == (3, 3)
    torch.testing.assert_close(logits, untrimmed, atol=1e-5, rtol=1e-4)


def test_incremental_head_grows(tiny_model_dir):
    encoder, _ = load_encoder_and_tokenizer(tiny_model_dir)
    model = build_model(encoder, head="incremental", n_classes=6, pooling="cls")
    assert isinstance(model, TextClassifier) and isinstance(model.features, TextEncoder)
    assert model.head.classifier.out_features == 2
