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


def test_bucket_sampler_covers_every_example_once_and_is_seeded():
    from streams.batching import BucketBatchSampler

    lengths = [5, 30, 7, 12, 29, 3, 18, 22, 9, 14] * 7
    def batches(seed):
        return list(BucketBatchSampler(lengths, 8, generator=torch.Generator().manual_seed(seed), pool_batches=3))
    first, again, other = batches(0), batches(0), batches(1)
    assert sorted(i for b in first for i in b) == list(range(len(lengths)))
    assert first == again and first != other
    # within a pool, batches hold similar lengths: their spread is far below the data's
    spreads = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in first]
    assert sorted(spreads)[len(spreads) // 2] < (max(lengths) - min(lengths)) / 2


def test_length_groups_cut_a_batch_at_the_fewest_padded_tokens():
    import itertools

    from streams.batching import length_groups

    def cost(lengths, groups, overhead):
        return sum(len(g) * max(lengths[i] for i in g) + overhead for g in groups)

    assert length_groups([]) == []
    assert length_groups([9, 9, 9, 9]) == [[0, 1, 2, 3]]  # nothing to gain: one piece
    assert length_groups([5, 40, 6, 41], overhead=0) == [[0], [2], [1], [3]]
    assert length_groups([5, 40, 6, 41], overhead=10) == [[0, 2], [1, 3]]
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        lengths = torch.randint(1, 30, (7,), generator=generator).tolist()
        groups = length_groups(lengths, overhead=8)
        assert sorted(i for g in groups for i in g) == list(range(7))  # every position once
        # the minimum over every cut of the sorted lengths into consecutive runs
        order = sorted(range(7), key=lambda i: (lengths[i], i))
        best = min(cost(lengths, [order[a:b] for a, b in zip((0, *cuts), (*cuts, 7))], 8)
                   for k in range(7) for cuts in itertools.combinations(range(1, 7), k))
        assert cost(lengths, groups, 8) == best


def test_bucketed_replay_loader_joins_equal_batches():
    from streams.batching import BucketedReplayLoader

    def data(n, offset):
        x = torch.zeros(n, 2, 6, dtype=torch.long)
        for i in range(n):
            x[i, 1, : 1 + i % 6] = 1
        return torch.utils.data.TensorDataset(x, torch.arange(offset, offset + n), torch.zeros(n, dtype=torch.long))

    loader = BucketedReplayLoader(data(20, 0), data(7, 100), batch_size=4, batch_size_mem=4,
                                  generator=torch.Generator().manual_seed(0))
    batches = list(loader)
    assert len(batches) == len(loader) == 5
    seen = torch.cat([b[1][b[1] < 100] for b in batches])
    assert sorted(seen.tolist()) == list(range(20))  # every current example once
    assert all(((b[1] >= 100).sum() >= 3) for b in batches)  # each joined by a memory batch


def test_evaluation_forward_passes_run_under_inference_mode():
    from continual.engine.template import text_template

    class Base:  # stands in for an Avalanche template: only eval_epoch is reached
        def eval_epoch(self, **kwargs):
            return torch.is_inference_mode_enabled()

    template = text_template(Base, seed=0)
    assert template.__new__(template).eval_epoch() is True
    assert not torch.is_inference_mode_enabled()


def test_sdpa_and_eager_attention_give_the_same_logits_and_are_the_kernels_that_run(tiny_model_dir):
    from continual.speed.attention import attention_in_use

    x = None
    logits, kernels = {}, {}
    for attention in ("sdpa", "eager"):
        encoder, tokenizer = load_encoder_and_tokenizer(tiny_model_dir, attention=attention)
        assert encoder.config._attn_implementation == attention
        torch.manual_seed(0)  # the same head on both
        model = build_model(encoder, head="fixed", n_classes=3, pooling="mean").eval()
        if x is None:  # texts of different lengths: the padding mask matters
            x = _batch(tokenizer, ["asthma wheeze", "glucose insulin thirst diabetes mellitus type two", "rash"])
        with torch.no_grad():
            logits[attention] = model(x)
        kernels[attention] = attention_in_use(model, x)
    assert kernels == {"sdpa": "sdpa", "eager": "eager"}
    torch.testing.assert_close(logits["sdpa"], logits["eager"], atol=1e-5, rtol=1e-4)


def test_the_configured_attention_reaches_the_runs_encoder(tiny_model_dir):
    from continual.config import ExperimentConfig, ModelConfig
    from continual.engine.assemble import load_encoder

    config = ExperimentConfig(strategy="naive", model=ModelConfig(model=str(tiny_model_dir), attention="eager"))
    encoder, _ = load_encoder(config)
    assert encoder.config._attn_implementation == "eager"
    assert ExperimentConfig(strategy="naive").model.attention == "sdpa"


def test_the_configured_attention_dropout_reaches_every_layer_and_a_bad_one_is_refused(tiny_model_dir, capsys):
    from continual.config import ExperimentConfig, ModelConfig
    from continual.engine.assemble import load_encoder
    from continual.run import main

    own, _ = load_encoder(ExperimentConfig(strategy="naive", model=ModelConfig(model=str(tiny_model_dir))))
    config = ExperimentConfig(strategy="naive", model=ModelConfig(model=str(tiny_model_dir), attention_dropout=0.0))
    encoder, _ = load_encoder(config)
    assert own.config.attention_probs_dropout_prob == 0.1 and encoder.config.attention_probs_dropout_prob == 0.0
    assert {layer.attention.self.dropout.p for layer in encoder.encoder.layer} == {0.0}
    assert encoder.config.hidden_dropout_prob == own.config.hidden_dropout_prob  # only the attention's
    assert main(["--strategy", "naive", "--model", str(tiny_model_dir), "--set", "model.attention_dropout=1.5"]) == 2
    err = capsys.readouterr().err
    assert "model.attention_dropout" in err and "Traceback" not in err


class _Experience:
    """What a head's adaptation reads of an Avalanche experience."""

    def __init__(self, exp_id, task, classes):
        self.current_experience, self.task_labels, self.classes_in_this_experience = exp_id, [task], classes


def test_a_head_per_task_reads_each_rows_task_in_a_mixed_batch(tiny_model_dir):
    from continual.model import ABSENT_UNIT_LOGIT

    encoder, tokenizer = load_encoder_and_tokenizer(tiny_model_dir)
    # task 0 tags two entity types (O, B/I x 2: 5 units), task 1 one type (3 units)
    model = build_model(encoder, head="multi", n_classes=3, pooling="mean", task_type="token",
                        experience_classes=[[0, 1], [0]])
    model.adaptation(_Experience(0, 0, [0, 1]))
    model.adaptation(_Experience(1, 1, [0]))
    assert [model.heads[t].out_features for t in ("0", "1")] == [5, 3]
    model.eval()
    x = _batch(tokenizer, ["asthma wheeze", "glucose insulin thirst diabetes", "rash"])
    tasks = torch.tensor([1, 0, 1])
    with torch.no_grad():
        mixed = model(x, tasks)
        alone = [model(x[i:i + 1], int(tasks[i])) for i in range(3)]
    assert mixed.shape[-1] == 5
    for i, own in enumerate(alone):
        units = own.shape[-1]
        length = own.shape[1]  # a row alone is cut to its own longest text
        torch.testing.assert_close(mixed[i, :length, :units], own[0], atol=1e-5, rtol=1e-4)
        assert bool((mixed[i, :, units:] == ABSENT_UNIT_LOGIT).all())
