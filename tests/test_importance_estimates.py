"""The importance estimates of EWC, MAS and SI on the tiny BERT: independent of the order in which
an experience stores its examples, the same through the batched and the per-example route, and
(SI) graded rather than one clipped value, so that SI trains differently from naive."""
import pytest
import torch
from avalanche.core import SupervisedPlugin
from conftest import TINY_TRAINING, synthetic_records, synthetic_stream

from continual import (
    ExperimentConfig,
    ModelConfig,
    StreamConfig,
    TrainingConfig,
    run_experiment,
)

ESTIMATES = {"ewc": ("negative_log_likelihood", "square"), "mas": ("squared_output_norm", "absolute")}


@pytest.fixture(scope="module")
def tiny_classifier(tiny_model_dir):
    """The tiny BERT with the suite's masked incremental head over three active classes."""
    from continual.model import build_model, load_encoder_and_tokenizer

    encoder, tokenizer = load_encoder_and_tokenizer(tiny_model_dir)
    torch.manual_seed(0)
    model = build_model(encoder, head="incremental", n_classes=4, pooling="mean")
    model.head.classifier = torch.nn.Linear(encoder.config.hidden_size, 4)
    model.head.active_units = torch.tensor([1, 1, 1, 0], dtype=torch.int8)  # unit 3 masked
    return model.train(), tokenizer


def _examples(tokenizer, per_class=10):
    """Packed (x, y, task) examples of three classes, stored by class as experiences are."""
    from streams.tokenization import pack

    records = synthetic_records(per_class=per_class)
    kept = [(t, y) for t, y in zip(records.texts, records.labels) if y < 3]
    x = pack(tokenizer([t for t, _ in kept])["input_ids"], 16)
    return [(x[i], torch.tensor(y), 0) for i, (_, y) in enumerate(kept)]


def _estimate(model, examples, kind, n_samples=0, seed=0):
    from strategies import importance_estimates as ie

    loss, magnitude = ESTIMATES[kind]
    positions = ie.sample_positions(examples, n_samples, seed, experience=0)
    return ie.per_example_importance(model, [examples[i] for i in positions], getattr(ie, loss), magnitude, "cpu")


@pytest.mark.parametrize("kind", sorted(ESTIMATES))
def test_estimate_does_not_depend_on_the_stored_order_of_the_examples(kind, tiny_classifier):
    model, tokenizer = tiny_classifier
    examples = _examples(tokenizer)
    shuffled = [examples[i] for i in torch.randperm(len(examples), generator=torch.Generator().manual_seed(1))]
    stored, permuted = _estimate(model, examples, kind), _estimate(model, shuffled, kind)
    assert all(torch.equal(stored[name], permuted[name]) for name in stored)  # bit for bit
    assert any(value.abs().sum() > 0 for value in stored.values())
    # a seeded subsample: the same examples whatever the order, hence the same estimate
    stored, permuted = _estimate(model, examples, kind, n_samples=12), _estimate(model, shuffled, kind, n_samples=12)
    assert all(torch.equal(stored[name], permuted[name]) for name in stored)
    other = _estimate(model, examples, kind, n_samples=12, seed=1)
    assert not all(torch.equal(stored[name], other[name]) for name in stored)


def test_avalanche_batch_fisher_depends_on_the_stored_order(tiny_classifier):
    """What the per-example estimate avoids: Avalanche squares each minibatch's gradient, so the
    same examples in another order give another Fisher."""
    from avalanche.training.plugins import EWCPlugin

    model, tokenizer = tiny_classifier
    examples = _examples(tokenizer)
    shuffled = [examples[i] for i in torch.randperm(len(examples), generator=torch.Generator().manual_seed(1))]
    args = (model, torch.nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    stored = EWCPlugin(ewc_lambda=1.0).compute_importances(*args, examples, "cpu", 8)
    permuted = EWCPlugin(ewc_lambda=1.0).compute_importances(*args, shuffled, "cpu", 8)
    name = "head.classifier.weight"
    assert not torch.allclose(stored[name].data, permuted[name].data, rtol=1e-3)
    model.zero_grad(set_to_none=True)


@pytest.mark.parametrize("kind", sorted(ESTIMATES))
def test_batched_per_example_gradients_equal_one_backward_pass_per_example(kind, tiny_classifier, monkeypatch):
    from strategies import importance_estimates as ie

    model, tokenizer = tiny_classifier
    examples = _examples(tokenizer, per_class=7)
    assert ie._BatchedGradients.owners(model) is not None  # the encoder and head take the batched route
    batched = _estimate(model, examples, kind)
    monkeypatch.setattr(ie._BatchedGradients, "owners", classmethod(lambda cls, model: None))
    one_by_one = _estimate(model, examples, kind)
    scale = max(value.abs().max() for value in one_by_one.values())
    for name in batched:  # absolute tolerance: key biases have a zero gradient up to rounding
        torch.testing.assert_close(batched[name], one_by_one[name], rtol=1e-4, atol=1e-6 * scale)
    assert model.training and all(p.requires_grad for p in model.parameters())  # flags restored


# ------------------------------------------------------------------ SI in a tiny run

class ImportanceWatch(SupervisedPlugin):
    """SI's importances after each experience (this plugin runs after the strategy's own)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def after_training_exp(self, strategy, **kwargs):
        plugin = next(p for p in strategy.plugins if type(p).__name__ == "TextSIPlugin")
        self.seen.append(torch.cat([t.reshape(-1) for t in plugin.importance.values()]))
        self.copied = set(plugin.previous)  # the parameters copied whole before each step


def _run(strategy, model_dir, tmp_path, params=None, extra_plugins=()):
    config = ExperimentConfig(strategy=strategy, seed=0, out=str(tmp_path),
                              stream=StreamConfig(no_cache=True, max_length=16), model=ModelConfig(model=model_dir),
                              training=TrainingConfig(device="cpu", **TINY_TRAINING), strategy_params=params or {})
    return run_experiment(config, stream=synthetic_stream(), progress=False, write=False,
                          extra_plugins=list(extra_plugins)).metrics


def test_si_importances_are_graded_not_one_clipped_value(tiny_model_dir, tmp_path):
    watch = ImportanceWatch()
    _run("si", tiny_model_dir, tmp_path, extra_plugins=[watch])
    assert len(watch.seen) == 3
    for omega in watch.seen:
        assert torch.isfinite(omega).all() and omega.min() >= 0
        positive = omega[omega > 0]
        assert 0.3 < len(positive) / len(omega) < 1  # parameters that never moved stay at 0
        assert len(torch.unique(positive)) > 0.9 * len(positive)  # not equal to one another
        assert positive.max() > 100 * positive.median() and positive.max() > 1e-3  # no clip at 0.001


def test_si_trains_differently_from_naive(tiny_model_dir, tmp_path):
    """On the tiny class-incremental stream a strong c keeps some of the first experience; at
    the paper's c = 1 the tiny stream's matrix matches naive's (the new head units' bias
    dominates there, as it does for naive)."""
    naive = _run("naive", tiny_model_dir, tmp_path / "naive")["accuracy_matrix"]
    si = _run("si", tiny_model_dir, tmp_path / "si", {"si": {"lambda": "100"}})["accuracy_matrix"]
    assert si != naive
    assert si[1][0] > naive[1][0]  # less forgetting of the first experience


def test_si_path_on_touched_embedding_rows_only_equals_the_dense_step_bit_for_bit(tiny_model_dir, tmp_path,
                                                                                 monkeypatch):
    """The tiny model's 99-row embedding counts as row-sparse once the threshold drops below it:
    the importances after every experience and the accuracy matrix equal the dense route's. The
    penalty keeps the table on its rows in both runs, so that it pulls rows no batch looks up
    (which need no step: their task gradient is exactly 0)."""
    import strategies.importance_plugins as plugins
    import strategies.penalty as penalty

    monkeypatch.setattr(penalty, "SPARSE_MIN_ROWS", 50)
    monkeypatch.setattr(penalty, "SPARSE_MAX_SHARE", 1.0)
    params = {"si": {"lambda": "100"}}
    dense_watch, sparse_watch = ImportanceWatch(), ImportanceWatch()
    dense = _run("si", tiny_model_dir, tmp_path / "dense", params, [dense_watch])
    monkeypatch.setattr(plugins, "SPARSE_MIN_ROWS", 50)
    mixed = torch.nn.Sequential(torch.nn.Embedding(99, 4), torch.nn.Linear(4, 99), torch.nn.Embedding(40, 4))
    assert plugins._row_sparse_names(mixed) == {"0.weight"}  # a 99-row linear weight has every row touched
    looked_up = []
    real = plugins._rows_from_lookups
    monkeypatch.setattr(plugins, "_rows_from_lookups", lambda *a: looked_up.append(1) or real(*a))
    sparse = _run("si", tiny_model_dir, tmp_path / "sparse", params, [sparse_watch])
    assert len(looked_up) > 10  # the rows came from the ids the embedding looked up
    table = "features.encoder.embeddings.word_embeddings.weight"
    assert table in dense_watch.copied and table not in sparse_watch.copied  # only its looked-up rows were kept
    assert sparse["accuracy_matrix"] == dense["accuracy_matrix"]
    for a, b in zip(sparse_watch.seen, dense_watch.seen):
        assert torch.equal(a, b)


def test_mas_adds_the_importances_of_successive_experiences_as_the_paper_accumulates_them():
    from types import SimpleNamespace

    from avalanche.training.utils import ParamData

    from strategies.importance_plugins import TextMASPlugin

    model = torch.nn.Linear(3, 2)
    for accumulate, expected in (("sum", 3.0), ("average", 1.5)):
        plugin = TextMASPlugin(alpha=0.5, accumulate=accumulate)
        values = iter([torch.full((2, 3), 1.0), torch.full((2, 3), 2.0)])
        plugin._get_importance = lambda strategy: {"weight": ParamData("weight", init_tensor=next(values))}
        for counter in (0, 1):
            plugin.after_training_exp(SimpleNamespace(model=model, clock=SimpleNamespace(train_exp_counter=counter)))
        assert torch.allclose(plugin.importance["weight"].data, torch.full((2, 3), expected))


def test_si_task_gradient_from_the_plan_buffers_equals_the_formula_bit_for_bit(tiny_model_dir, tmp_path,
                                                                              monkeypatch):
    """The path step that takes the penalty's gradient from the plan's buffers gives the same
    importances after every experience and the same accuracy matrix as the one that computes
    ``g - 2 c Omega (theta_before - theta*)`` afresh."""
    import strategies.importance_plugins as plugins

    params = {"si": {"lambda": "100"}}
    given_watch, formula_watch = ImportanceWatch(), ImportanceWatch()
    calls = []
    real = plugins.TextSIPlugin._path_step_given
    monkeypatch.setattr(plugins.TextSIPlugin, "_path_step_given",
                        lambda self, *args: calls.append(len(args[0])) or real(self, *args))
    given = _run("si", tiny_model_dir, tmp_path / "given", params, [given_watch])
    assert calls and min(calls) > 10  # every penalized step took the dense parameters' gradients from the plan
    monkeypatch.setattr(plugins.TextSIPlugin, "_penalty_gradients", lambda self: {})
    formula = _run("si", tiny_model_dir, tmp_path / "formula", params, [formula_watch])
    assert given["accuracy_matrix"] == formula["accuracy_matrix"]
    assert len(given_watch.seen) == len(formula_watch.seen) == 3
    for a, b in zip(given_watch.seen, formula_watch.seen):
        assert torch.equal(a, b)


def test_si_takes_touched_rows_from_lookups_only_for_an_untied_table(monkeypatch):
    """A table whose weight an output layer shares gets gradient on every row: it is scanned."""
    import strategies.importance_plugins as plugins

    monkeypatch.setattr(plugins, "SPARSE_MIN_ROWS", 50)
    own, tied = torch.nn.Embedding(99, 4), torch.nn.Embedding(80, 4)
    out = torch.nn.Linear(4, 80, bias=False)
    out.weight = tied.weight
    model = torch.nn.ModuleDict({"own": own, "tied": tied, "out": out})
    names = plugins._row_sparse_names(model)
    assert names == {"own.weight", "tied.weight"}
    assert set(plugins._untied_tables(model, names)) == {"own.weight"}
    rows = plugins._rows_from_lookups([torch.tensor([[5, 3], [3, 9]]), torch.tensor([1])], "cpu")
    assert rows.tolist() == [1, 3, 5, 9]
