"""--save-model and continual.load_model: the model comes back with the same logits, for every
kind of encoder (fully fine-tuned, peft adapters, hand-written adapters, per task)."""
import json

import pytest
import torch

from continual import ExperimentConfig, ModelConfig, StreamConfig, TrainingConfig, UserError, load_model, run_experiment
from continual.config import RunControl

from conftest import SYNTHETIC_STREAMS, TINY_TRAINING

CASES = [("naive", "class", "full"), ("bitfit", "class", "full"), ("lora", "class", "peft"),
         ("adapters", "class", "base"), ("o-lora", "class", "peft"), ("prompt-tuning", "class", "peft"),
         ("lora-per-task", "task", "per-task"), ("bitfit-per-task", "task", "base"), ("replay", "domain", "full")]


@pytest.mark.parametrize("name, scenario, kind", CASES, ids=[c[0] for c in CASES])
def test_saved_model_gives_the_same_logits(name, scenario, kind, tiny_model_dir, tmp_path):
    config = ExperimentConfig(strategy=name, seed=0, out=str(tmp_path),
                              stream=StreamConfig(no_cache=True, max_length=16), model=ModelConfig(model=tiny_model_dir),
                              training=TrainingConfig(device="cpu", **TINY_TRAINING),
                              strategy_params={"replay": {"mem_size": "12"}}, control=RunControl(save_model=True))
    captured = {}

    from avalanche.core import SupervisedPlugin

    class KeepPlugin(SupervisedPlugin):  # the trained model as the run ends
        def after_training_exp(self, strategy, **kwargs):
            captured["model"] = strategy.model

    stream = SYNTHETIC_STREAMS[scenario]()
    result = run_experiment(config, stream=stream, progress=False, extra_plugins=[KeepPlugin()])
    folder = result.run_dir / "model"
    info = json.loads((folder / "model.json").read_text())
    assert info["encoder"]["kind"] == kind and (folder / "suite.safetensors").is_file()
    if kind == "full":
        assert (folder / "encoder" / "config.json").is_file()
    elif kind == "peft":  # peft writes adapters other than "default" into their own folders
        assert list((folder / "encoder").rglob("adapter_config.json"))
        if name == "o-lora":
            assert {p.parent.name for p in (folder / "encoder").rglob("adapter_config.json")} == {"exp0", "exp1", "exp2"}
    elif kind == "per-task":
        assert sorted(p.name for p in (folder / "encoder").iterdir()) == ["task0", "task1", "task2"]
    loaded = load_model(result.run_dir)
    trained = captured["model"].eval()
    x = loaded.encode(["asthma wheeze", "glucose insulin thirst diabetes"])
    with torch.no_grad():
        if scenario == "task":
            for task in (0, 1, 2):
                torch.testing.assert_close(loaded(x, task), trained(x, task), rtol=0, atol=0)
        else:
            torch.testing.assert_close(loaded(x), trained(x), rtol=0, atol=0)


def test_load_model_without_a_saved_model_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="holds no saved model: run it with --save-model"):
        load_model(tmp_path)
