"""Token tagging and multi-label outputs in the strategies: the losses against hand computations,
LwF's distillation on the old units only, EWC's Fisher on tag sequences and label sets against a
loop of per-example gradients, replay and DER++ with y tensors through Avalanche, the
parameter-efficient methods on a tagger, and which strategies declare which task types."""
import math

import pytest
import torch
from avalanche.core import SupervisedPlugin
from torch import nn

from strategies import STRATEGIES, StrategyContext, TASK_TYPES, describe, register_strategy, unsupported_task_type
from strategies.task_losses import (
    der_loss,
    multilabel_bce,
    multilabel_distillation,
    multilabel_negative_log_likelihood,
    token_cross_entropy,
    token_negative_log_likelihood,
    token_units,
)

TOKEN = {"naive", "joint", "cumulative", "replay", "ewc", "lwf", "lora", "bitfit", "adapters", "prompt-tuning",
         "prefix-tuning", "ia3", "o-lora"}
MULTI_LABEL = {"naive", "joint", "cumulative", "replay", "der", "ewc", "lwf"}
LENGTH = 12  # the packed length of the synthetic examples
HIDDEN = 32


# --------------------------------------------------------------------------- tiny models and data

def tiny_bert(seed: int = 0):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=99, hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=64)
    return BertModel(config, add_pooling_layer=False)


class Features(nn.Module):
    """The encoder on a packed [B, 2, L] batch cut to its longest text: per-token states
    [B, L', H] (a tagger) or their mean over real tokens [B, H] (a text classifier)."""

    def __init__(self, encoder, pooled: bool):
        super().__init__()
        self.encoder, self.pooled = encoder, pooled

    def forward(self, x):
        longest = int(x[:, 1].sum(1).max())
        mask = x[:, 1, :longest]
        hidden = self.encoder(input_ids=x[:, 0, :longest], attention_mask=mask).last_hidden_state
        hidden = hidden[:, hidden.shape[1] - longest:]  # a prompt's virtual tokens come first
        if not self.pooled:
            return hidden
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1)


class TinyModel(nn.Module):
    """Tiny BERT + a linear head with masked units (-1000, as Avalanche's IncrementalClassifier):
    [B, L', U] tag logits, or [B, U] label logits when pooled."""

    def __init__(self, units: int, active: list, pooled: bool, head=None):
        super().__init__()
        self.features = Features(tiny_bert(), pooled)
        self.head = head if head is not None else nn.Linear(HIDDEN, units)
        self.register_buffer("active", torch.tensor(active, dtype=torch.bool) if active else None)

    def forward(self, x):
        out = self.head(self.features(x))
        return out if self.active is None else out.masked_fill(~self.active, -1000.0)


def packed_inputs(n: int, generator) -> torch.Tensor:
    """[n, 2, LENGTH] token ids and attention masks, real lengths 4..LENGTH."""
    x = torch.zeros(n, 2, LENGTH, dtype=torch.long)
    for i in range(n):
        real = int(torch.randint(4, LENGTH + 1, (1,), generator=generator))
        x[i, 0, :real] = torch.randint(5, 99, (real,), generator=generator)
        x[i, 1, :real] = 1
    return x


def tag_sequences(x: torch.Tensor, tags: list, generator) -> torch.Tensor:
    """[n, LENGTH] tags drawn from ``tags`` on the word positions, -100 on [CLS], [SEP], padding
    and every third position (a word's second piece)."""
    y = torch.full((len(x), LENGTH), -100, dtype=torch.long)
    for i, real in enumerate(x[:, 1].sum(1).tolist()):
        for p in range(1, real - 1):
            if p % 3:
                y[i, p] = tags[int(torch.randint(len(tags), (1,), generator=generator))]
    return y


def token_examples(n: int = 10, tags=(0, 1, 2), seed: int = 0) -> list:
    generator = torch.Generator().manual_seed(seed)
    x = packed_inputs(n, generator)
    y = tag_sequences(x, list(tags), generator)
    return [(x[i], y[i], 0) for i in range(n)]


def multilabel_examples(n: int = 10, labels=(0, 1, 2), width: int = 6, seed: int = 0) -> list:
    generator = torch.Generator().manual_seed(seed)
    x = packed_inputs(n, generator)
    y = torch.zeros(n, width)
    for i in range(n):
        for label in labels:
            y[i, label] = float(torch.rand(1, generator=generator) < 0.5)
    return [(x[i], y[i], 0) for i in range(n)]


# --------------------------------------------------------------------------- the losses

def test_token_cross_entropy_is_the_mean_over_tagged_positions_of_the_models_positions():
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [0.5, 0.5, 3.0]],
                           [[1.0, 1.0, 1.0], [0.0, 0.0, 4.0], [9.0, 9.0, 9.0]]])
    # columns 3 and 4 lie past the batch's longest text (L' = 3): cut, however they are tagged
    y = torch.tensor([[-100, 1, 2, 0, 0], [0, 2, -100, 1, 1]])

    def nll(row, tag):
        return -(row[tag] - torch.logsumexp(row, 0)).item()

    expected = (nll(logits[0, 1], 1) + nll(logits[0, 2], 2) + nll(logits[1, 0], 0) + nll(logits[1, 1], 2)) / 4
    assert token_cross_entropy(logits, y).item() == pytest.approx(expected, rel=1e-6)
    reference = nn.CrossEntropyLoss(ignore_index=-100)(logits.reshape(-1, 3), y[:, :3].reshape(-1))
    torch.testing.assert_close(token_cross_entropy(logits, y), reference)
    # per example: the sum of each example's tagged positions, so that each gradient is its own
    assert token_negative_log_likelihood(logits, y).item() == pytest.approx(4 * expected, rel=1e-6)
    # a batch with nothing tagged: 0 with a gradient, not 0/0
    empty = logits.clone().requires_grad_()
    loss = token_cross_entropy(empty, torch.full((2, 5), -100))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(empty.grad).all()


def test_multilabel_bce_reads_the_first_u_columns_of_the_multi_hot_labels():
    logits = torch.tensor([[2.0, -1.0, 0.0], [-3.0, 0.5, 1.0]])
    # K = 5 labels in the stream, U = 3 units in the head: the last two columns are not read
    y = torch.tensor([[1.0, 0.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0, 1.0]])

    def bce(z, t):
        p = 1 / (1 + math.exp(-z))
        return -(t * math.log(p) + (1 - t) * math.log(1 - p))

    terms = [bce(logits[i, j].item(), y[i, j].item()) for i in range(2) for j in range(3)]
    assert multilabel_bce(logits, y).item() == pytest.approx(sum(terms) / 6, rel=1e-6)
    torch.testing.assert_close(multilabel_bce(logits, y), nn.BCEWithLogitsLoss()(logits, y[:, :3]))
    assert multilabel_negative_log_likelihood(logits, y).item() == pytest.approx(sum(terms), rel=1e-6)


def test_token_units_are_o_and_each_types_b_and_i():
    assert token_units([0]) == [0, 1, 2]
    assert token_units({2, 0}) == [0, 1, 2, 5, 6]
    assert token_units([]) == [0]


def test_der_loss_is_label_loss_plus_logit_regression_plus_replayed_label_loss():
    output = torch.tensor([[1.0, -1.0], [0.0, 2.0], [3.0, 0.0]])
    y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    stored = torch.tensor([[0.5, -0.5]])
    loss = der_loss(output, y, stored, 1, alpha=0.3, beta=0.7, label_loss=multilabel_bce)
    expected = (multilabel_bce(output[1:], y[1:]) + 0.3 * ((1.0 - 0.5) ** 2 + (-1.0 + 0.5) ** 2) / 2
                + 0.7 * multilabel_bce(output[:1], y[:1]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


# --------------------------------------------------------------------------- LwF

class Fixed(nn.Module):
    """A teacher that answers every batch with the same logits."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return self.logits


def _distil(task_type, student, teacher, x, old_classes, alpha=0.5, temperature=2.0):
    """The loss the LwF plugin of ``task_type`` adds before the backward pass."""
    from types import SimpleNamespace

    from strategies.lwf_plugin import EvalTeacherLwFPlugin

    plugin = EvalTeacherLwFPlugin(alpha, temperature, task_type)
    plugin.lwf.prev_model = Fixed(teacher)
    plugin.lwf.prev_classes_by_task[0] = set(old_classes)
    strategy = SimpleNamespace(mb_x=x, mb_output=student, model=None, loss=torch.tensor(0.0))
    plugin.before_backward(strategy)
    return strategy.loss


def test_token_lwf_is_extendner_kl_on_o_words_and_cross_entropy_on_new_tags():
    from types import SimpleNamespace

    from strategies.lwf_plugin import TokenLwFPlugin
    from strategies.task_losses import token_cross_entropy

    generator = torch.Generator().manual_seed(0)
    student = torch.randn(2, 3, 5, generator=generator)  # units O, B/I-type 0 (old), B/I-type 1 (new)
    teacher = torch.randn(2, 3, 3, generator=generator)  # the old model has O and type 0's units
    y = torch.tensor([[0, 3, -100, -100], [4, 0, 0, -100]])  # O, B-new | I-new, O, O
    x = torch.ones(2, 2, 4, dtype=torch.long)
    alpha, T = 0.5, 2.0
    plugin = TokenLwFPlugin(alpha, T)
    plugin.lwf.prev_model = Fixed(teacher)
    strategy = SimpleNamespace(mbatch=[x, y, torch.zeros(2)], mb_output=student, loss=torch.tensor(0.0))
    strategy.mb_x = x
    plugin.after_forward(strategy)
    # the criterion then sees the O words ignored: only the new type's tags are cross-entropy
    assert strategy.mbatch[1].tolist() == [[-100, 3, -100, -100], [4, -100, -100, -100]]
    ce = token_cross_entropy(student, strategy.mbatch[1])
    expected_ce = -(torch.log_softmax(student[0, 1], 0)[3] + torch.log_softmax(student[1, 0], 0)[4]) / 2
    assert ce.item() == pytest.approx(expected_ce.item(), rel=1e-6)
    plugin.before_backward(strategy)
    total = 0.0
    for b, t in [(0, 0), (1, 1), (1, 2)]:  # the words tagged O
        q = torch.softmax(teacher[b, t] / T, 0)
        log_p = torch.log_softmax(student[b, t] / T, 0)[:3]  # the new units' share counts as 0 in q
        total += (q * (q.log() - log_p)).sum().item()
    assert strategy.loss.item() == pytest.approx(alpha * total / 3, rel=1e-5)


def test_token_lwf_trains_the_first_experience_on_every_tag():
    from types import SimpleNamespace

    from strategies.lwf_plugin import TokenLwFPlugin

    plugin = TokenLwFPlugin(1.0, 1.0)
    y = torch.tensor([[0, 1, 2]])
    strategy = SimpleNamespace(mbatch=[torch.ones(1, 2, 3, dtype=torch.long), y, torch.zeros(1)],
                               mb_output=torch.randn(1, 3, 3), loss=torch.tensor(0.0))
    plugin.after_forward(strategy)
    plugin.before_backward(strategy)
    assert strategy.mbatch[1] is y and strategy.loss.item() == 0.0


def test_multilabel_lwf_is_the_bce_of_sigmoids_of_old_labels():
    student = torch.tensor([[1.0, -2.0, 0.5, 3.0], [0.0, 1.0, -1.0, -3.0], [2.0, 2.0, 2.0, 2.0]])
    teacher = torch.tensor([[0.5, 1.0, -0.5, 0.0], [-2.0, 0.0, 1.0, 0.0], [4.0, -4.0, 0.0, 0.0]])
    T, total = 2.0, 0.0
    for b in range(3):
        for j in (0, 2):  # the old labels
            target = 1 / (1 + math.exp(-teacher[b, j].item() / T))
            p = 1 / (1 + math.exp(-student[b, j].item() / T))
            total += -(target * math.log(p) + (1 - target) * math.log(1 - p))
    loss = _distil("multi-label", student, teacher, torch.zeros(3, 2, 4, dtype=torch.long), old_classes={0, 2})
    assert loss.item() == pytest.approx(0.5 * total / 6, rel=1e-6)
    moved = student.clone()
    moved[:, [1, 3]] += 5.0  # new labels
    assert _distil("multi-label", moved, teacher, torch.zeros(3, 2, 4, dtype=torch.long), {0, 2}).item() \
        == pytest.approx(loss.item(), rel=1e-6)
    assert multilabel_distillation(student, teacher, [0, 2], T).item() == pytest.approx(total / 6, rel=1e-6)


def test_single_label_lwf_keeps_avalanches_loss():
    from avalanche.training import LearningWithoutForgetting

    from strategies.lwf_plugin import EvalTeacherLwF, EvalTeacherLwFPlugin

    assert type(EvalTeacherLwFPlugin(1.0, 2.0).lwf) is EvalTeacherLwF
    assert EvalTeacherLwF._distillation_loss is LearningWithoutForgetting._distillation_loss


# --------------------------------------------------------------------------- EWC's Fisher

def _fisher_by_loop(model, examples, log_likelihood):
    """mean over examples of the squared gradient of the example's log-likelihood, one example
    at a time at its own length (the definition, without the batched route)."""
    model.eval()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    totals = {n: torch.zeros_like(p) for n, p in named}
    for x, y, _ in examples:
        value = log_likelihood(model(x[None]), y[None])
        grads = torch.autograd.grad(value, [p for _, p in named], allow_unused=True)
        for (name, _), grad in zip(named, grads):
            if grad is not None:
                totals[name] += grad ** 2
    return {n: t / len(examples) for n, t in totals.items()}


def _token_log_likelihood(out, y):
    log_p = torch.log_softmax(out, -1)[0]
    return sum(log_p[t, int(tag)] for t, tag in enumerate(y[0, :out.shape[1]]) if tag != -100)


def _multilabel_log_likelihood(out, y):
    u = out.shape[1]
    return (y[:, :u] * nn.functional.logsigmoid(out) + (1 - y[:, :u]) * nn.functional.logsigmoid(-out)).sum()


CASES = {
    "token": (lambda: TinyModel(7, [1, 1, 1, 0, 0, 0, 0], pooled=False), token_examples,
              _token_log_likelihood, token_negative_log_likelihood),
    "multi-label": (lambda: TinyModel(4, [1, 1, 1, 0], pooled=True), multilabel_examples,
                    _multilabel_log_likelihood, multilabel_negative_log_likelihood),
}


@pytest.mark.parametrize("task_type", sorted(CASES))
def test_ewc_fisher_matches_a_loop_of_per_example_gradients(task_type):
    from strategies import importance_estimates as ie
    from strategies.ewc_plugin import TextEWCPlugin

    make_model, make_examples, log_likelihood, negative = CASES[task_type]
    model, examples = make_model().train(), make_examples()
    assert ie.negative_log_likelihood_of(task_type) is negative
    assert ie._BatchedGradients.owners(model) is not None  # the batched route, checked against the loop
    plugin = TextEWCPlugin(ewc_lambda=1.0, mode="separate", task_type=task_type)
    fisher = {n: v.data for n, v in plugin.compute_importances(model, None, None, examples, "cpu", 4).items()}
    assert model.training  # modes restored
    expected = _fisher_by_loop(model, examples, log_likelihood)
    scale = max(v.abs().max() for v in expected.values())
    for name, value in expected.items():
        torch.testing.assert_close(fisher[name], value, rtol=1e-4, atol=1e-6 * scale)
    assert all(torch.isfinite(v).all() for v in fisher.values())
    assert fisher["head.weight"][:3].abs().sum() > 0
    assert fisher["features.encoder.embeddings.word_embeddings.weight"].sum() > 0
    assert fisher["head.weight"][3:].abs().sum() == 0  # masked units learn nothing


def test_importance_sample_reads_tag_sequences_and_label_sets_in_content_order():
    from strategies.importance_estimates import sample_positions

    for examples in (token_examples(), multilabel_examples()):
        shuffled = examples[::-1]
        first = [examples[i][0].tolist() for i in sample_positions(examples, 4, 0, 0)]
        second = [shuffled[i][0].tolist() for i in sample_positions(shuffled, 4, 0, 0)]
        assert first == second


# --------------------------------------------------------------------------- through Avalanche

class ExperienceData(torch.utils.data.Dataset):
    """Packed inputs, labels (tag sequences or multi-hot rows) and the Avalanche targets apart."""

    def __init__(self, x, y, targets):
        self.x, self.y, self.targets = x, y, list(targets)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, index):
        return self.x[index], self.y[index]


def tiny_benchmark(task_type: str, n_experiences: int = 3, per_experience: int = 12):
    """Experience e owns entity type e (token; tags O, B-e, I-e) or labels 2e and 2e+1 (multi-label,
    K = 6); each example's target is the class it was drawn for."""
    from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
    from avalanche.benchmarks.scenarios.supervised import with_classes_timeline
    from avalanche.benchmarks.scenarios.task_aware import with_task_labels
    from avalanche.benchmarks.utils.classification_dataset import _make_taskaware_classification_dataset

    generator = torch.Generator().manual_seed(3)
    train = []
    for e in range(n_experiences):
        x = packed_inputs(per_experience, generator)
        if task_type == "token":
            y, targets = tag_sequences(x, [0, 1 + 2 * e, 2 + 2 * e], generator), [e] * per_experience
        else:
            y = torch.zeros(per_experience, 2 * n_experiences)
            targets = [2 * e + i % 2 for i in range(per_experience)]
            y[torch.arange(per_experience), targets] = 1.0
            y[::3, 2 * e + 1] = 1.0  # some texts carry both labels of the experience
        train.append(_make_taskaware_classification_dataset(ExperienceData(x, y, targets), task_labels=0,
                                                            targets=targets))
    return with_task_labels(with_classes_timeline(benchmark_from_datasets(train=train, test=train)))


def tiny_model(task_type: str):
    from avalanche.models import IncrementalClassifier

    torch.manual_seed(0)
    if task_type == "token":
        return TinyModel(7, None, pooled=False)
    return TinyModel(0, None, pooled=True, head=IncrementalClassifier(HIDDEN, initial_out_features=2))


def train_tiny(name: str, task_type: str, params=None, spy=None):
    """Strategy ``name`` (a composition too) built by the registry and trained through three tiny
    experiences as the engine trains it: the template of its parts, the criterion of the task type."""
    from avalanche.evaluation.metrics import loss_metrics
    from avalanche.training.plugins import EvaluationPlugin
    from avalanche.training.templates import SupervisedTemplate

    from strategies import resolve_params

    context = StrategyContext(batch_size=4, n_classes=6, seed=0, max_length=16, task_type=task_type)
    model, plugins, template, kwargs = tiny_model(task_type), [], SupervisedTemplate, {}
    once = False
    for part in name.split("+"):
        parts = STRATEGIES[part].build(resolve_params(part, (params or {}).get(part, {})), context)
        model = parts.prepare_model(model) if parts.prepare_model else model
        plugins += parts.plugins
        template, once = parts.template or template, once or parts.trains_once
        kwargs.update(parts.template_kwargs)
    criterion = token_cross_entropy if task_type == "token" else multilabel_bce
    strategy = template(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.05), criterion=criterion,
                        train_mb_size=4, train_epochs=1, eval_mb_size=8, device="cpu",
                        plugins=plugins + ([spy] if spy else []),
                        evaluator=EvaluationPlugin(loss_metrics(epoch=True), loggers=[]), **kwargs)
    benchmark = tiny_benchmark(task_type)
    for experience in ([benchmark.train_stream] if once else benchmark.train_stream):
        strategy.train(experience)
    return strategy


class LossSpy(SupervisedPlugin):
    """Records, before each backward pass, the experience, the loss and what the run's criterion
    alone gives on the batch."""

    def __init__(self, criterion):
        super().__init__()
        self.criterion, self.steps = criterion, []

    def before_backward(self, strategy, **kwargs):
        self.steps.append((strategy.clock.train_exp_counter, strategy.loss.item(),
                           self.criterion(strategy.mb_output, strategy.mb_y).item()))


RUNS = [(name, task_type) for task_type, names in (("token", TOKEN), ("multi-label", MULTI_LABEL))
        for name in sorted(names & {"naive", "joint", "cumulative", "replay", "ewc", "lwf", "der"})]
RUNS += [("replay+ewc", "token"), ("replay+lwf", "multi-label")]


@pytest.mark.parametrize("name, task_type", RUNS, ids=[f"{n}-{t}" for n, t in RUNS])
def test_declared_strategy_trains_on_the_task_types_outputs(name, task_type):
    criterion = token_cross_entropy if task_type == "token" else multilabel_bce
    spy = LossSpy(criterion)
    small = {"replay": {"mem_size": "8", "policy": "class-balanced"}, "der": {"mem_size": "8"},
             "ewc": {"lambda": "100"}}
    strategy = train_tiny(name, task_type, small, spy)
    assert spy.steps and all(math.isfinite(loss) for _, loss, _ in spy.steps)
    later = [(loss, alone) for experience, loss, alone in spy.steps if experience > 0]
    if name in ("naive", "replay"):
        assert all(loss == pytest.approx(alone, rel=1e-6) for loss, alone in later)
    if name in ("ewc", "lwf", "replay+ewc", "replay+lwf"):  # a penalty or a distillation term on top
        assert any(loss > alone + 1e-7 for loss, alone in later)
    if "replay" in name:
        buffer = next(p for p in strategy.plugins if hasattr(p, "storage_policy")).storage_policy.buffer
        assert 0 < len(buffer) <= 8 and buffer[0][1].shape == ((LENGTH,) if task_type == "token" else (6,))
    if "lwf" in name:
        lwf = next(p for p in strategy.plugins if hasattr(p, "lwf")).lwf
        assert set(lwf.prev_classes_by_task[0]) == ({0, 1, 2} if task_type == "token" else set(range(6)))


class DERCheck(SupervisedPlugin):
    """DER++'s loss recomputed from the batch before each backward pass that replays."""

    def __init__(self):
        super().__init__()
        self.checked = []

    def before_backward(self, strategy, **kwargs):
        if strategy.replay_loader is not None:
            expected = der_loss(strategy.mb_output, strategy.mb_y, strategy.batch_logits, strategy.batch_size_mem,
                                strategy.alpha, strategy.beta, multilabel_bce)
            self.checked.append((strategy.loss.item(), expected.item(), strategy.batch_logits.shape[1]))


def test_multilabel_der_replays_stored_label_logits_with_the_binary_cross_entropy():
    check = DERCheck()
    strategy = train_tiny("der", "multi-label", {"der": {"mem_size": "8"}}, check)
    assert type(strategy).__name__ == "MultiLabelDER" and check.checked
    assert all(loss == pytest.approx(expected, rel=1e-5) for loss, expected, _ in check.checked)
    # the head grew 2 -> 4 -> 6 units: logits stored at 2 and 4 units replayed side by side in the
    # third experience, the missing units padded as masked (replaced by the current outputs)
    assert {width for _, _, width in check.checked} == {4, 6}
    buffer = strategy.storage_policy.buffer
    assert {buffer[i][3].shape[-1] for i in range(len(buffer))} == {2, 4, 6}


def test_buffers_of_tag_sequences_and_label_sets_survive_a_checkpoint():
    from types import SimpleNamespace

    from strategies.state import dataset_state, load_storage, storage_state

    for task_type, name in (("token", "replay"), ("multi-label", "der")):
        strategy = train_tiny(name, task_type, {name: {"mem_size": "8"}})
        policy = strategy.storage_policy if name == "der" else \
            next(p for p in strategy.plugins if hasattr(p, "storage_policy")).storage_policy
        saved = storage_state(policy, examples=True)
        fresh = type(policy)(max_size=8)
        benchmark = tiny_benchmark(task_type)
        load_storage(fresh, saved, SimpleNamespace(benchmark=benchmark, finished=3, strategy=strategy))
        before, after = dataset_state(policy.buffer), dataset_state(fresh.buffer)
        assert before["targets"] == after["targets"] and all(isinstance(t, int) for t in after["targets"])
        assert torch.equal(before["y"], after["y"]) and before["y"].dim() == 2
        if name == "der":
            assert torch.equal(before["logits"], after["logits"]) and before["logits"].shape[1] == 6


# --------------------------------------------------------------------------- parameter-efficient taggers

PEFT_TOKEN = sorted(TOKEN & {s for s, spec in STRATEGIES.items() if spec.family == "PEFT"})


@pytest.mark.parametrize("name", PEFT_TOKEN)
def test_parameter_efficient_method_trains_a_tagger(name):
    context = StrategyContext(batch_size=4, n_classes=3, seed=0, max_length=16, task_type="token")
    parts = STRATEGIES[name].build(STRATEGIES[name].defaults(), context)
    model = parts.prepare_model(TinyModel(7, [1, 1, 1, 1, 1, 0, 0], pooled=False))
    examples = token_examples(4)
    x, y = torch.stack([e[0] for e in examples]), torch.stack([e[1] for e in examples])
    out = model(x)
    assert out.shape == (4, int(x[:, 1].sum(1).max()), 7)
    token_cross_entropy(out, y).backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]
    assert trainable and any(p.grad is not None and p.grad.abs().sum() > 0 for _, p in trainable)


# --------------------------------------------------------------------------- declarations

def test_declared_task_types():
    assert TASK_TYPES == ("single-label", "token", "multi-label")
    assert {n for n, s in STRATEGIES.items() if "token" in s.task_types} == TOKEN
    assert {n for n, s in STRATEGIES.items() if "multi-label" in s.task_types} == MULTI_LABEL
    assert all("single-label" in s.task_types for s in STRATEGIES.values())


def test_the_registry_agrees_with_the_streams_task_types():
    import streams.base

    assert TASK_TYPES == tuple(getattr(streams.base, "TASK_TYPES", TASK_TYPES))


def test_register_strategy_defaults_to_single_label_and_refuses_unknown_task_types():
    with pytest.raises(ValueError, match="task types must be some of"):
        register_strategy("x-bad", family="baseline", paper="", description="", task_types=("tokens",))
    assert "x-bad" not in STRATEGIES
    register_strategy("x-default", family="baseline", paper="", description="")(lambda params, context: None)
    try:
        assert STRATEGIES["x-default"].task_types == ("single-label",)
        assert unsupported_task_type("x-default", "single-label") is None
    finally:
        del STRATEGIES["x-default"]


@pytest.mark.parametrize("task_type", ["token", "multi-label"])
def test_unsupported_task_type_names_the_strategies_that_support_it(task_type):
    supporting = TOKEN if task_type == "token" else MULTI_LABEL
    for name in sorted(supporting):
        assert unsupported_task_type(name, task_type) is None
    assert unsupported_task_type("replay+ewc+lwf", task_type) is None  # the components share it
    assert unsupported_task_type(["replay", "lwf"], task_type) is None
    reason = unsupported_task_type("si", task_type)
    assert reason.startswith("strategy 'si' does not support") and f"task type {task_type!r}" in reason
    assert "\n" not in reason and all(name in reason for name in supporting)
    composed = unsupported_task_type("replay+si+mas", task_type)
    assert "its components 'si', 'mas' do not" in composed and "'replay+si+mas'" in composed
    assert "its component 'si' does not" in unsupported_task_type(["replay", "si"], task_type)


def test_unsupported_task_type_refuses_unknown_names():
    assert "unknown task type 'tags'" in unsupported_task_type("naive", "tags")
    assert "unknown strategy 'ewk'" in unsupported_task_type("ewk", "token")
    assert unsupported_task_type("der", "token") is not None and unsupported_task_type("der", "multi-label") is None


def test_describe_shows_the_task_types():
    assert "task types: single-label, token, multi-label" in describe(STRATEGIES["lwf"]).splitlines()[0]
    assert "task types: single-label, multi-label" in describe(STRATEGIES["der"]).splitlines()[0]
    assert "task types: single-label\n" in describe(STRATEGIES["si"]).splitlines()[0] + "\n"
