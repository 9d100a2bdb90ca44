"""The parameter-efficient family: which tensors each method trains, that the encoder's own weights
stay bit for bit, that per-task variants never change a learned task, O-LoRA's orthogonality loss,
and the position limit of prompt and prefix tuning."""
import numpy as np
import pytest
import torch

from continual import ExperimentConfig, ModelConfig, StreamConfig, TrainingConfig, UserError, run_experiment
from continual.model import build_model, load_encoder_and_tokenizer
from strategies import STRATEGIES, StrategyContext, StrategyInputError

from conftest import SYNTHETIC_STREAMS, synthetic_task_stream

SEQUENTIAL = ["bitfit", "adapters", "prompt-tuning", "prefix-tuning", "ia3", "o-lora"]
PER_TASK = ["bitfit-per-task", "adapters-per-task", "prompt-tuning-per-task", "prefix-tuning-per-task",
            "ia3-per-task", "lora-per-task"]
#: the names of each method's own tensors
OWN = {"bitfit": lambda n: n.endswith(".bias"), "adapters": lambda n: ".adapter." in n,
       "prompt-tuning": lambda n: "prompt_encoder" in n, "prefix-tuning": lambda n: "prompt_encoder" in n,
       "ia3": lambda n: "ia3_" in n, "o-lora": lambda n: "lora_" in n}


def _config(name, model_dir, max_length=16, **params):
    return ExperimentConfig(strategy=name, seed=0, out="unused",
                            stream=StreamConfig(no_cache=True, max_length=max_length), model=ModelConfig(model=model_dir),
                            training=TrainingConfig(batch_size=8, eval_batch_size=16, lr=1e-2, device="cpu", epochs=2),
                            strategy_params={name: params} if params else {})


def _prepared(name, model_dir, max_length=16, head="fixed"):
    encoder, _ = load_encoder_and_tokenizer(model_dir)
    model = build_model(encoder, head=head, n_classes=3, pooling="mean")
    base = {k: v.clone() for k, v in model.features.encoder.named_parameters()}
    context = StrategyContext(batch_size=4, n_classes=3, seed=0, max_length=max_length)
    parts = STRATEGIES[name].build(dict(STRATEGIES[name].defaults()), context)
    return parts.prepare_model(model), base


def _train(model, steps=3):
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.05)
    torch.manual_seed(0)
    x = torch.randint(5, 99, (4, 2, 8))
    x[:, 1] = 1
    x[3, 1, 5:] = 0  # one shorter text: padding in the batch
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 0])).backward()
        optimizer.step()
    return x


@pytest.mark.parametrize("name", SEQUENTIAL)
def test_each_method_trains_its_own_tensors_and_leaves_the_encoders_weights(name, tiny_model_dir):
    model, base = _prepared(name, tiny_model_dir)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    own = [n for n in trainable if not n.startswith("head.")]
    assert own and all(OWN[name](n) for n in own), own
    if name == "bitfit":  # exactly the biases
        assert len(own) == sum(1 for n in base if n.endswith("bias"))
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    _train(model)
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters() if n in own)
    # every pretrained weight the method does not own is unchanged, bit for bit
    for key, value in model.features.encoder.state_dict().items():
        short = key
        for wrapper in ("base_model.model.", "peft_model.", "base_layer.", ".base"):
            short = short.replace(wrapper, "." if wrapper == ".base" else "")
        if short in base and not OWN[name](key) and not (name == "bitfit" and key.endswith("bias")):
            assert torch.equal(value, base[short]), key


def test_adapters_start_as_the_pretrained_encoder(tiny_model_dir):
    encoder, tokenizer = load_encoder_and_tokenizer(tiny_model_dir)
    plain = build_model(encoder, head="fixed", n_classes=3, pooling="mean").eval()
    x = torch.randint(5, 99, (3, 2, 8))
    x[:, 1] = 1
    with torch.no_grad():
        before = plain.features(x)
    model, _ = _prepared("adapters", tiny_model_dir)
    with torch.no_grad():
        after = model.eval().features(x)
    torch.testing.assert_close(after, before)
    from strategies.efficient_models import adapter_sites

    sites = adapter_sites(load_encoder_and_tokenizer(tiny_model_dir)[0], "houlsby")
    assert len(sites) == 4  # 2 layers x (attention output, feed-forward output)
    assert len(adapter_sites(load_encoder_and_tokenizer(tiny_model_dir)[0], "pfeiffer")) == 2


def test_prompt_tokens_take_positions_and_pooling_skips_them(tiny_model_dir):
    model, _ = _prepared("prompt-tuning", tiny_model_dir)
    x = torch.randint(5, 99, (2, 2, 8))
    x[:, 1] = 1
    assert model.features(x).shape == (2, 32)
    # the tiny encoder has 128 positions: 20 virtual tokens leave 108 for the text
    with pytest.raises(StrategyInputError, match="--max-length 120 plus prompt-tuning's 20 virtual tokens exceeds "
                                                 "the encoder's 128 positions: use --max-length 108"):
        _prepared("prompt-tuning", tiny_model_dir, max_length=120)
    with pytest.raises(UserError, match="--strategy prefix-tuning: --max-length 120"):
        run_experiment(_config("prefix-tuning", tiny_model_dir, max_length=120),
                       stream=SYNTHETIC_STREAMS["class"](), progress=False, write=False)


@pytest.mark.parametrize("name", PER_TASK)
def test_per_task_variants_never_change_a_learned_task(name, tiny_model_dir):
    result = run_experiment(_config(name, tiny_model_dir), stream=synthetic_task_stream(), progress=False,
                            write=False)
    matrix = np.array(result.metrics["accuracy_matrix"])
    for j in range(3):
        np.testing.assert_array_equal(matrix[j:, j], matrix[j, j])
    assert result.metrics["forgetting"] == pytest.approx(0.0)


def test_per_task_model_keeps_each_tasks_tensors_apart(tiny_model_dir):
    """Task 0's logits after training task 1 equal those right after task 0 (its slot restored)."""
    from types import SimpleNamespace

    from avalanche.models.dynamic_modules import avalanche_model_adaptation

    model, _ = _prepared("bitfit-per-task", tiny_model_dir, head="multi")
    model.train()
    x = torch.randint(5, 99, (4, 2, 8))
    x[:, 1] = 1
    for task in (0, 1):
        avalanche_model_adaptation(model, SimpleNamespace(task_labels=[task], classes_in_this_experience=[0, 1],
                                                          current_experience=task))
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.05)
        for _ in range(3):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x, task), torch.tensor([0, 1, 1, 0])).backward()
            optimizer.step()
        if task == 0:
            with torch.no_grad():
                first = model.eval()(x, 0).clone()
            model.train()
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x, 0), first)
        assert not torch.equal(model(x, 1), first)


def test_olora_penalty_is_zero_for_orthogonal_subspaces_and_its_gradient_is_autograds(tiny_model_dir):
    from types import SimpleNamespace

    from strategies.efficient_models import OrthogonalLoRA, orthogonality_penalty

    model, _ = _prepared("o-lora", tiny_model_dir)
    olora = next(m for m in model.modules() if isinstance(m, OrthogonalLoRA))
    model.train()
    assert orthogonality_penalty(olora, 0.5, 0.0) is None  # one adapter: nothing to keep apart
    olora.adaptation(SimpleNamespace(current_experience=1, task_labels=[0], classes_in_this_experience=[0]))
    trainable = {n for n, p in olora.named_parameters() if p.requires_grad}
    assert trainable and all(".exp1." in n for n in trainable)  # the old adapter is frozen
    pairs_old, pairs_new = olora.lora_pairs("exp0"), olora.lora_pairs("exp1")
    with torch.no_grad():  # rows of A in disjoint coordinates: orthogonal subspaces
        for (a_old, _), (a_new, _) in zip(pairs_old, pairs_new):
            a_old.zero_()[:, :4] = torch.randn(a_old.shape[0], 4)
            a_new.zero_()[:, 4:8] = torch.randn(a_new.shape[0], 4)
    assert orthogonality_penalty(olora, 0.5, 0.0).item() == 0.0
    with torch.no_grad():
        for _, (a_new, _) in zip(pairs_old, pairs_new):
            a_new.normal_()
    penalty = orthogonality_penalty(olora, 0.5, 0.1)
    penalty.backward()
    fast = [a.grad.clone() for _, (a, _) in zip(pairs_old, pairs_new)]
    for _, (a, b) in zip(pairs_old, pairs_new):
        a.grad = None
    plain = sum(0.5 * ((ao @ an.T) ** 2).sum() for (ao, _), (an, _) in zip(pairs_old, pairs_new))
    plain = plain + 0.1 * sum((an ** 2).sum() + (bn ** 2).sum() for an, bn in pairs_new)
    plain.backward()
    assert float(penalty) == pytest.approx(float(plain), rel=1e-6)
    torch.testing.assert_close(fast, [a.grad for _, (a, _) in zip(pairs_old, pairs_new)])
    # the earlier adapter is used at test time too: both are active
    assert set(olora.peft_model.base_model.active_adapters) == {"exp0", "exp1"}


@pytest.mark.parametrize("name, scenario", [(n, "class") for n in SEQUENTIAL] + [("ia3", "domain"), ("bitfit", "task")])
def test_every_sequential_method_runs_a_stream(name, scenario, tiny_model_dir):
    result = run_experiment(_config(name, tiny_model_dir), stream=SYNTHETIC_STREAMS[scenario](), progress=False,
                            write=False)
    assert len(result.metrics["accuracy_matrix"]) == 3
    assert 0 < result.metrics["trainable_parameters"]


def test_stored_bytes_count_what_each_method_keeps(tiny_model_dir):
    """naive keeps nothing; replay its buffer of token ids; a per-task method one set of
    tensors per task seen; EWC a Fisher and an anchor (two copies of the parameters)."""
    def stored(name, scenario, **params):
        config = _config(name, tiny_model_dir, **params)
        return run_experiment(config, stream=SYNTHETIC_STREAMS[scenario](), progress=False,
                              write=False).metrics["stored_bytes"]

    assert stored("naive", "class") == [0, 0, 0]
    replay = stored("replay", "class", mem_size="12")
    assert 0 < replay[0] <= replay[1] and replay[2] <= 12 * 2 * 16 * 8 + 12 * 16  # ids + mask, labels
    encoder, _ = load_encoder_and_tokenizer(tiny_model_dir)
    biases = sum(p.numel() * 4 for n, p in encoder.named_parameters() if n.endswith("bias"))
    per_task = stored("bitfit-per-task", "task")
    assert per_task == [biases, 2 * biases, 3 * biases]
    ewc = stored("ewc", "class")
    parameters = sum(p.numel() * 4 for p in encoder.parameters())
    assert all(2 * parameters <= v for v in ewc)


@pytest.mark.parametrize("projection", [False, True])
def test_prefix_tuning_is_the_papers_attention_over_prefix_and_text(projection, tiny_model_dir):
    """peft's prefix path on this encoder equals Li & Liang's formulation written out: in every
    layer the text's queries attend over the prefix's keys and values followed by the text's own
    (padding masked, positions after the prefix's), so a change in how transformers takes past keys
    and values cannot silently turn the prefix off or misalign it."""
    from strategies.efficient import attacher

    encoder, _ = load_encoder_and_tokenizer(tiny_model_dir)
    context = StrategyContext(batch_size=4, n_classes=3, seed=0, max_length=16)
    peft_model = attacher("prefix-tuning", {"virtual_tokens": 5, "projection": projection}, context)(encoder).eval()
    torch.manual_seed(0)
    ids = torch.randint(5, 99, (3, 7))
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[1, 4:] = 0
    with torch.no_grad():
        got = peft_model(input_ids=ids, attention_mask=mask).last_hidden_state
        cache = peft_model.get_prompt(batch_size=3)
        base = peft_model.base_model
        heads = base.config.num_attention_heads
        width = base.config.hidden_size // heads
        prefix = cache.layers[0].keys.shape[2]
        hidden = base.embeddings(input_ids=ids, position_ids=torch.arange(prefix, prefix + 7)[None])
        keep = torch.cat([torch.ones(3, prefix), mask.float()], 1)[:, None, None, :]
        for i, layer in enumerate(base.encoder.layer):
            att = layer.attention.self
            q, k, v = (f(hidden).view(3, 7, heads, width).transpose(1, 2) for f in (att.query, att.key, att.value))
            k = torch.cat([cache.layers[i].keys, k], 2)
            v = torch.cat([cache.layers[i].values, v], 2)
            weights = (q @ k.transpose(-1, -2) / width ** 0.5).masked_fill(keep == 0, float("-inf")).softmax(-1)
            assert weights[..., :prefix].sum(-1).min() > 0.01  # the prefix takes part in every layer
            context = (weights @ v).transpose(1, 2).reshape(3, 7, -1)
            attended = layer.attention.output(context, hidden)
            hidden = layer.output(layer.intermediate(attended), attended)
    real = mask.bool()
    torch.testing.assert_close(got[real], hidden[real], atol=1e-5, rtol=1e-4)
