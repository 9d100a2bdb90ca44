"""PEFT strategies: LoRA leaves the base weights alone; one adapter per task forgets nothing."""
import numpy as np
import pytest
import torch

from continual import ExperimentConfig, ModelConfig, StreamConfig, TrainingConfig, run_experiment
from continual.model import build_model, load_encoder_and_tokenizer
from strategies import STRATEGIES, StrategyContext

from conftest import synthetic_task_stream


def _config(name, model_dir, tmp_path):
    return ExperimentConfig(strategy=name, seed=0, out=str(tmp_path),
                            stream=StreamConfig(no_cache=True, max_length=16), model=ModelConfig(model=model_dir),
                            training=TrainingConfig(batch_size=8, eval_batch_size=16, lr=5e-3, device="cpu", epochs=2))


def test_lora_trains_adapters_not_base_weights(tiny_model_dir):
    encoder, _ = load_encoder_and_tokenizer(tiny_model_dir)
    model = build_model(encoder, head="fixed", n_classes=3, pooling="mean")
    base = {k: v.clone() for k, v in model.features.encoder.state_dict().items()}
    context = StrategyContext(batch_size=4, n_classes=3, seed=0)
    parts = STRATEGIES["lora"].build(dict(STRATEGIES["lora"].defaults()), context)
    model = parts.prepare_model(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x = torch.randint(5, 99, (4, 2, 8))
    x[:, 1] = 1
    for _ in range(3):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 0])).backward()
        optimizer.step()
    merged_names = model.features.encoder.base_model.model.state_dict()
    for name, value in merged_names.items():
        if "lora_" in name:
            continue
        original = name.replace("base_layer.", "")
        assert torch.equal(value, base[original]), name
    assert any(not torch.equal(p, torch.zeros_like(p)) for n, p in model.named_parameters() if "lora_B" in n)


def test_lora_per_task_forgets_nothing(tiny_model_dir, tmp_path):
    result = run_experiment(_config("lora-per-task", tiny_model_dir, tmp_path), stream=synthetic_task_stream(),
                            progress=False, write=False)
    matrix = np.array(result.metrics["accuracy_matrix"])
    for j in range(3):
        np.testing.assert_allclose(matrix[j:, j], matrix[j, j])  # unchanged after it was learned
    assert result.metrics["forgetting"] == pytest.approx(0.0)
    assert result.metrics["bwt"] == pytest.approx(0.0)


def test_frozen_counts_only_head_parameters(tiny_model_dir, tmp_path):
    from conftest import synthetic_stream

    result = run_experiment(_config("frozen", tiny_model_dir, tmp_path), stream=synthetic_stream(),
                            progress=False, write=False)
    assert result.metrics["trainable_parameters"] == 32 * 6 + 6  # the grown head only
