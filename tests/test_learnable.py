"""The synthetic streams are learnable at ``TINY_TRAINING``: naive scores each experience well
above chance right after training it, so tests that compare runs compare learned models."""
import pytest

from continual import ExperimentConfig, ModelConfig, StreamConfig, TrainingConfig, run_experiment

from conftest import SYNTHETIC_STREAMS, TINY_TRAINING

#: Chance accuracy on one experience: two classes (class, task) or three (domain).
CHANCE = {"class": 0.5, "domain": 1 / 3, "task": 0.5}


@pytest.mark.parametrize("scenario", sorted(SYNTHETIC_STREAMS))
def test_naive_learns_every_experience_of_every_synthetic_stream(scenario, tiny_model_dir, tmp_path):
    stream = SYNTHETIC_STREAMS[scenario]()
    assert all(set(e.test_labels) == set(range(len(e.classes))) if e.label_names else
               set(e.test_labels) == set(e.classes) for e in stream.experiences)  # every class is tested
    config = ExperimentConfig(strategy="naive", seed=0, out=str(tmp_path),
                              stream=StreamConfig(no_cache=True, max_length=16), model=ModelConfig(model=tiny_model_dir),
                              training=TrainingConfig(device="cpu", **TINY_TRAINING))
    matrix = run_experiment(config, stream=stream, progress=False, write=False).metrics["accuracy_matrix"]
    diagonal = [matrix[j][j] for j in range(len(matrix))]
    assert min(diagonal) >= CHANCE[scenario] + 0.25, matrix
