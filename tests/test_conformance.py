"""Conformance over the whole registry: every registered strategy builds, trains on every scenario it declares and
yields a complete accuracy matrix; an undeclared scenario is refused before training."""
import numpy as np
import pytest

from continual import ExperimentConfig, ModelConfig, StreamConfig, TrainingConfig, UserError, run_experiment
from strategies import STRATEGIES

from conftest import SYNTHETIC_STREAMS, TINY_TRAINING

CASES = [(name, scenario) for name, spec in STRATEGIES.items() for scenario in spec.scenarios]
SMALL = {"replay": {"mem_size": "12"}, "der": {"mem_size": "12"}, "gem": {"patterns_per_exp": "4"},
         "agem": {"patterns_per_exp": "4", "sample_size": "4"}}
#: No Avalanche accuracy metric to compare with: joint is trained once, zero-shot never.
EXEMPT_FROM_AGREEMENT = {"joint", "zero-shot"}


def config_for(name, model_dir, tmp_path, epochs=1):
    return ExperimentConfig(
        strategy=name, seed=0, out=str(tmp_path),
        stream=StreamConfig(no_cache=True, max_length=16), model=ModelConfig(model=model_dir),
        # the tiny model's learning rate (so predictions move), one epoch to keep the sweep short
        training=TrainingConfig(**{**TINY_TRAINING, "epochs": epochs}, device="cpu"),
        strategy_params={k: v for k, v in SMALL.items() if k == name},
    )


@pytest.mark.parametrize("name, scenario", CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_strategy_on_declared_scenario(name, scenario, tiny_model_dir, tmp_path):
    stream = SYNTHETIC_STREAMS[scenario]()
    result = run_experiment(config_for(name, tiny_model_dir, tmp_path), stream=stream,
                            progress=False, write=False)
    m = result.metrics
    t = len(stream.experiences)
    assert np.shape(m["accuracy_matrix"]) == (t, t)
    assert np.shape(m["macro_f1_matrix"]) == (t, t)
    assert all(0.0 <= v <= 1.0 for row in m["accuracy_matrix"] for v in row)
    if name not in EXEMPT_FROM_AGREEMENT:
        np.testing.assert_allclose(m["accuracy_matrix"], result.avalanche_accuracy, atol=1e-9)
    if name == "joint":
        assert all(row == m["accuracy_matrix"][0] for row in m["accuracy_matrix"])
    # default heads: masked growing (class) and one per task (task) are untrained before their experience
    assert (m["fwt"] is None) == (scenario in ("class", "task"))
    assert m["trainable_parameters"] >= 0


UNSUPPORTED = [(name, scenario) for name, spec in STRATEGIES.items()
               for scenario in SYNTHETIC_STREAMS if scenario not in spec.scenarios]


@pytest.mark.parametrize("name, scenario", UNSUPPORTED, ids=[f"{n}-{s}" for n, s in UNSUPPORTED])
def test_undeclared_scenario_is_refused(name, scenario, tiny_model_dir, tmp_path):
    with pytest.raises(UserError, match="does not support"):
        run_experiment(config_for(name, tiny_model_dir, tmp_path), stream=SYNTHETIC_STREAMS[scenario](),
                       progress=False, write=False)
