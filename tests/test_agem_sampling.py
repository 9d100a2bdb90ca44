"""A-GEM's memory sample: drawn at random each step, as the paper's algorithm has it, where
Avalanche's loader reads each buffer in its stored order and so repeats the same few samples."""
from avalanche.core import SupervisedPlugin

from continual import run_experiment

from conftest import SYNTHETIC_STREAMS
from test_mechanisms import plugin_of, tiny_config

MEMORY, SAMPLE = 8, 4


class MemoryDraws(SupervisedPlugin):
    """The rows (as tuples of token ids) of every memory sample A-GEM draws, per experience."""

    def __init__(self):
        super().__init__()
        self.draws: dict[int, list] = {}

    def before_training_exp(self, strategy, **kwargs):
        agem = plugin_of(strategy, "TextAGEMPlugin")
        if getattr(agem, "_spied", False):
            return
        draw = agem.sample_from_memory

        def spied():
            batch = draw()
            self.draws.setdefault(strategy.clock.train_exp_counter, []).append(
                sorted(tuple(row) for row in batch[0][:, 0].tolist()))
            return batch
        agem.sample_from_memory, agem._spied = spied, True


def _draws(model_dir, tmp_path):
    spy = MemoryDraws()
    config = tiny_config("agem", model_dir, tmp_path, {"agem": {"patterns_per_exp": str(MEMORY),
                                                                "sample_size": str(SAMPLE)}})
    run_experiment(config, stream=SYNTHETIC_STREAMS["class"](), progress=False, write=False, extra_plugins=[spy])
    return spy.draws


def test_agem_draws_each_memory_sample_at_random_and_reproducibly(tiny_model_dir, tmp_path):
    draws = _draws(tiny_model_dir, tmp_path / "a")
    second = draws[1]
    per_pass = MEMORY // SAMPLE
    passes = [second[i:i + per_pass] for i in range(0, len(second) - per_pass + 1, per_pass)]
    assert len(passes) >= 3
    for samples in passes:  # one pass over the buffer: disjoint samples that cover it
        rows = [row for sample in samples for row in sample]
        assert len(rows) == MEMORY
    covered = {row for sample in passes[0] for row in sample}
    assert all({row for sample in samples for row in sample} == covered for samples in passes)
    # drawn anew on each pass: Avalanche's stored order would repeat the first pass's samples
    assert any(samples != passes[0] for samples in passes[1:])
    assert _draws(tiny_model_dir, tmp_path / "b") == draws  # the run's seed fixes every draw
