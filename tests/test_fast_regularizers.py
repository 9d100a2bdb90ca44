"""The fast penalties and importance passes agree with Avalanche's own plugins."""
from types import SimpleNamespace

import pytest
import torch
from avalanche.training.utils import ParamData
from torch import nn


def _fake_strategy(model, exp_counter):
    return SimpleNamespace(clock=SimpleNamespace(train_exp_counter=exp_counter), model=model,
                           device="cpu", loss=torch.tensor(0.0), run_seed=0)


def _grads(model, loss):
    model.zero_grad()
    loss.backward()
    return [p.grad.clone() for p in model.parameters()]


def test_penalty_plan_value_and_gradient_match_autograd():
    from strategies.penalty import PenaltyPlan

    torch.manual_seed(0)
    a, b = nn.Parameter(torch.randn(3, 2)), nn.Parameter(torch.randn(4))
    anchors = [[torch.randn(3, 2), torch.randn(4)], [torch.randn(3, 2)]]
    weights = [[torch.rand(3, 2), torch.rand(4)], [torch.rand(3, 2)]]
    terms = [([a, b], anchors[0], weights[0], 2.5), ([a], anchors[1], weights[1], 0.5)]
    fast = PenaltyPlan(terms)()
    (fast * 3.0).backward()  # an outer factor reaches the precomputed gradient too
    fast_grads = [a.grad.clone(), b.grad.clone()]
    a.grad = b.grad = None
    slow = sum(w * (f * (p - s) ** 2).sum() for ps, ss, fs, w in terms for p, s, f in zip(ps, ss, fs))
    (slow * 3.0).backward()
    assert fast.item() == pytest.approx(slow.item(), rel=1e-6)
    torch.testing.assert_close(fast_grads, [a.grad, b.grad])
    assert PenaltyPlan([])() is None


def test_penalty_plan_in_pieces_gives_the_plain_formula_gradient_bit_for_bit(monkeypatch):
    """On the CPU large parameters are penalized piece by piece through a scratch buffer: the
    gradient equals ``(F * (theta - anchor)) * 2w`` exactly, for tensors cut into pieces (sizes
    not a multiple of the piece), kept whole (small) and non-contiguous (kept whole)."""
    import strategies.penalty as penalty

    monkeypatch.setattr(penalty, "CPU_CHUNK", 7)
    assert [tuple(p.numel() for p in piece) for piece in penalty.pieces(torch.zeros(3, 6), torch.ones(3, 6))] == [
        (7, 7), (7, 7), (4, 4)]
    assert len(penalty.pieces(torch.empty(30, device="meta"))) == 1  # off the CPU (a GPU) a tensor stays whole
    torch.manual_seed(3)
    params = [nn.Parameter(torch.randn(3, 6)), nn.Parameter(torch.randn(5)), nn.Parameter(torch.randn(6, 4).t())]
    assert not params[2].is_contiguous() and len(penalty.pieces(params[2].detach(), torch.zeros(4, 6))) == 1
    anchors = [torch.randn(p.shape) for p in params]
    importances = [torch.rand(p.shape) for p in params]
    weight = 0.37
    plan = penalty.PenaltyPlan([(params, anchors, importances, weight)])
    value = plan()
    value.backward()
    for p, a, f in zip(params, anchors, importances):
        expected = (f * (p.detach() - a)) * (2.0 * weight)
        torch.testing.assert_close(p.grad, expected, rtol=0, atol=0)
    plain = sum(weight * (f * (p - a) ** 2).sum() for p, a, f in zip(params, anchors, importances))
    assert value.item() == pytest.approx(plain.item(), rel=1e-6)


def test_penalty_plan_keeps_only_embedding_rows_with_importance_and_the_same_gradient(monkeypatch):
    import strategies.penalty
    from strategies.penalty import SPARSE_MIN_ROWS, PenaltyPlan

    torch.manual_seed(0)
    rows = SPARSE_MIN_ROWS + 6
    emb, lin = nn.Parameter(torch.randn(rows, 5)), nn.Parameter(torch.randn(4, 3))
    importance = torch.zeros(rows, 5)
    seen = torch.tensor([0, 7, 300, rows - 1])
    importance[seen] = torch.rand(len(seen), 5)
    importance[8, 2] = 0.5  # a row with one nonzero entry counts as seen
    anchors, weights = [torch.randn(rows, 5), torch.randn(4, 3)], [importance, torch.rand(4, 3)]
    terms = [([emb, lin], anchors, weights, 3.0)]
    plan = PenaltyPlan(terms)
    assert [entry[1].tolist() for entry in plan.sparse] == [[0, 7, 8, 300, rows - 1]]
    assert plan.dense[0][0] == [lin]  # the small matrix stays whole
    fast = plan()
    fast.backward()
    fast_grads = [emb.grad.clone(), lin.grad.clone()]
    emb.grad = lin.grad = None
    slow = sum(3.0 * (f * (p - a) ** 2).sum() for p, a, f in zip([emb, lin], anchors, weights))
    slow.backward()
    assert fast.item() == pytest.approx(slow.item(), rel=1e-6)
    torch.testing.assert_close(fast_grads, [emb.grad, lin.grad])
    # bit for bit the gradient of the whole-matrix plan: training does not change
    emb.grad = lin.grad = None
    monkeypatch.setattr(strategies.penalty, "SPARSE_MAX_SHARE", 0.0)
    whole = PenaltyPlan(terms)
    assert not whole.sparse
    whole().backward()
    torch.testing.assert_close(fast_grads, [emb.grad, lin.grad], rtol=0, atol=0)
    # the plan is reused across steps: a moved parameter gives the new value
    with torch.no_grad():
        emb.add_(1.0)
    moved = sum(3.0 * (f * (p - a) ** 2).sum() for p, a, f in zip([emb, lin], anchors, weights))
    assert plan().item() == pytest.approx(moved.item(), rel=1e-6)


@pytest.mark.parametrize("mode", ["separate", "online"])
def test_ewc_penalty_matches_avalanche_with_a_grown_head(mode):
    from avalanche.training.plugins import EWCPlugin

    from strategies.ewc_plugin import TextEWCPlugin

    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 3))  # the head grew from 2 to 3 units
    kwargs = {"mode": mode, "decay_factor": 0.9 if mode == "online" else None}
    # ours is lambda/2 * sum F d^2 (Kirkpatrick et al.), Avalanche's lambda * sum F d^2
    ours, theirs = TextEWCPlugin(ewc_lambda=7.0, fisher_samples=0, **kwargs), EWCPlugin(ewc_lambda=3.5, **kwargs)
    for experience in range(2):
        saved, imps = {}, {}
        for name, p in model.named_parameters():
            shape = (2, *p.shape[1:]) if name.startswith("1.") else p.shape
            saved[name] = ParamData(name, init_tensor=torch.randn(shape))
            imps[name] = ParamData(name, init_tensor=torch.rand(shape))
        for plugin in (ours, theirs):
            plugin.saved_params[experience] = {k: ParamData(k, init_tensor=v.data.clone()) for k, v in saved.items()}
            plugin.importances[experience] = {k: ParamData(k, init_tensor=v.data.clone()) for k, v in imps.items()}
    results = []
    for plugin in (ours, theirs):
        strategy = _fake_strategy(model, exp_counter=2)
        plugin.before_backward(strategy)
        results.append((strategy.loss.item(), _grads(model, strategy.loss)))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    torch.testing.assert_close(results[0][1], results[1][1])


def test_separate_ewc_folds_past_experiences_into_two_sums_with_the_same_penalty():
    """After each experience the plugin keeps two sums, not two copies per experience, and its
    penalty after 1..4 experiences (the head growing by one unit each time) matches
    Avalanche's at half the lambda (its penalty has no 1/2), which keeps every copy."""
    from avalanche.training.plugins import EWCPlugin

    from strategies.ewc_plugin import TextEWCPlugin

    torch.manual_seed(2)
    ours, theirs = TextEWCPlugin(fisher_samples=0, ewc_lambda=3.0, mode="separate"), EWCPlugin(ewc_lambda=1.5, mode="separate")
    for experience in range(4):
        model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2 + experience))  # the head at this experience
        for plugin in (ours, theirs):
            plugin.saved_params[experience] = {}
            plugin.importances[experience] = {}
        for name, p in model.named_parameters():
            anchor, weight = torch.randn(p.shape), torch.rand(p.shape)
            weight[0] = 0.0  # parameters without importance: no penalty, no division by zero
            for plugin in (ours, theirs):
                plugin.saved_params[experience][name] = ParamData(name, init_tensor=anchor.clone())
                plugin.importances[experience][name] = ParamData(name, init_tensor=weight.clone())
        ours._fold()  # what after_training_exp does after Avalanche stored the experience
        assert len(ours.importances) == (1 if experience == 0 else 0) and len(ours.saved_params) == len(ours.importances)
        grown = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 3 + experience))  # the next experience's head
        results = []
        for plugin in (ours, theirs):
            strategy = _fake_strategy(grown, exp_counter=experience + 1)
            plugin.before_backward(strategy)
            results.append((strategy.loss.item(), _grads(grown, strategy.loss)))
        assert results[0][0] == pytest.approx(results[1][0], rel=1e-5, abs=1e-6)
        torch.testing.assert_close(results[0][1], results[1][1])
    assert set(ours.total_importance) == {name for name, _ in grown.named_parameters()}


class _Packed(nn.Module):
    """A model on packed [B, 2, L] inputs (token ids, attention mask), like the suite's."""

    def __init__(self):
        super().__init__()
        self.embed = nn.EmbeddingBag(20, 4, mode="sum")
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        return self.head(self.embed(x[:, 0], per_sample_weights=x[:, 1].float()))


def _packed_dataset(n=12, length=6):
    generator = torch.Generator().manual_seed(3)
    ids = torch.randint(1, 20, (n, length), generator=generator)
    lengths = torch.randint(2, length + 1, (n,), generator=generator)
    mask = (torch.arange(length)[None] < lengths[:, None]).long()
    x = torch.stack([ids * mask, mask], 1)
    y = torch.randint(0, 3, (n,), generator=generator)
    return torch.utils.data.TensorDataset(x, y, torch.zeros(n, dtype=torch.long))


def test_ewc_importances_equal_avalanche_with_one_example_per_batch_and_subsample_is_seeded():
    """Avalanche's estimate squares each minibatch's gradient; with minibatches of one example it
    is the empirical Fisher ours computes (here through one backward pass per example: the
    EmbeddingBag model is not one the batched route handles). The subsample is seeded."""
    from avalanche.training.plugins import EWCPlugin

    from strategies.ewc_plugin import TextEWCPlugin

    torch.manual_seed(0)
    model, data = _Packed(), _packed_dataset()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    args = (model, nn.CrossEntropyLoss(), optimizer, data, "cpu")
    expected = EWCPlugin(ewc_lambda=1.0).compute_importances(*args, 1)
    got = TextEWCPlugin(ewc_lambda=1.0, fisher_samples=0).compute_importances(*args, 4)
    for name in expected:
        torch.testing.assert_close(got[name].data, expected[name].data)
    batched = EWCPlugin(ewc_lambda=1.0).compute_importances(*args, 4)
    assert not torch.allclose(batched["head.weight"].data, expected["head.weight"].data)
    # a subsample: seeded, reproducible, another seed draws other examples, and not the full estimate
    sub = [TextEWCPlugin(ewc_lambda=1.0, fisher_samples=4, seed=seed).compute_importances(*args, 4) for seed in (0, 0, 1)]
    torch.testing.assert_close(sub[0]["head.weight"].data, sub[1]["head.weight"].data)
    assert not torch.allclose(sub[0]["head.weight"].data, sub[2]["head.weight"].data)
    assert not torch.allclose(sub[0]["head.weight"].data, expected["head.weight"].data)


def test_mas_penalty_matches_avalanche():
    from avalanche.training.plugins import MASPlugin

    from strategies.importance_plugins import TextMASPlugin

    torch.manual_seed(2)
    model = nn.Linear(3, 2)
    results = []
    for plugin in (TextMASPlugin(lambda_reg=3.0), MASPlugin(lambda_reg=3.0)):
        torch.manual_seed(5)
        plugin.params = {n: ParamData(n, init_tensor=torch.randn(p.shape)) for n, p in model.named_parameters()}
        plugin.importance = {n: ParamData(n, init_tensor=torch.rand(p.shape)) for n, p in model.named_parameters()}
        strategy = _fake_strategy(model, exp_counter=1)
        strategy.loss = torch.tensor(1.0)
        plugin.before_backward(strategy)
        results.append((strategy.loss.item(), _grads(model, strategy.loss)))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-6)
    torch.testing.assert_close(results[0][1], results[1][1])


def _si_steps(plugin, model, optimizer, strategy, batches):
    """Training steps with the hooks Avalanche's loop calls around each of them; returns the
    path integral computed by hand from the task loss's gradient and the actual updates, and
    the penalty the plugin added at each step."""
    path = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    penalties = []
    for x, y in batches:
        plugin.before_training_iteration(strategy)
        before = {name: p.detach().clone() for name, p in model.named_parameters()}
        optimizer.zero_grad()
        task_loss = nn.functional.cross_entropy(model(x), y)
        task_grads = torch.autograd.grad(task_loss, list(model.parameters()), retain_graph=True)
        strategy.loss = task_loss.clone()  # the plugin adds its penalty in place
        plugin.before_backward(strategy)
        penalties.append(strategy.loss.item() - task_loss.item())
        strategy.loss.backward()
        plugin.before_update(strategy)
        optimizer.step()
        for (name, p), grad in zip(model.named_parameters(), task_grads):
            path[name] -= grad * (p.detach() - before[name])
        plugin.after_training_iteration(strategy)
    return path, penalties


def test_si_integrates_the_task_loss_path_and_penalizes_drift_without_a_clip():
    """Over two experiences: omega = -sum(g_task * dtheta) with the penalty's gradient left out,
    Omega = max(0, Omega + omega / (Delta**2 + xi)) unclipped above, anchors in owned copies,
    and the penalty c * sum(Omega * (theta - anchor)**2)."""
    from strategies.importance_plugins import TextSIPlugin

    torch.manual_seed(4)
    model = nn.Linear(3, 2)
    plugin = TextSIPlugin(si_lambda=5.0, eps=1e-3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    batches = [(torch.randn(4, 3), torch.randint(0, 2, (4,))) for _ in range(4)]
    expected = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    for experience in range(2):
        strategy = _fake_strategy(model, exp_counter=experience)
        plugin.before_training_exp(strategy)
        start = {name: p.detach().clone() for name, p in model.named_parameters()}
        path, penalties = _si_steps(plugin, model, optimizer, strategy, batches[2 * experience: 2 * experience + 2])
        # no penalty in the first experience; in the second, once the weights leave the anchor
        assert (penalties[-1] > 0) if experience else not any(penalties)
        plugin.after_training_exp(strategy)
        for name, p in model.named_parameters():
            moved = p.detach() - start[name]
            expected[name] = torch.clamp(expected[name] + path[name] / (moved ** 2 + 1e-3), min=0)
            torch.testing.assert_close(plugin.importance[name], expected[name])
            assert plugin.anchor[name].data_ptr() != p.data_ptr()  # a copy, not a view
    omegas = torch.cat([t.reshape(-1) for t in plugin.importance.values()])
    assert omegas.max() > 0.001 and len(set(omegas.tolist())) > 2  # graded, not clipped to one value
    strategy = _fake_strategy(model, exp_counter=2)
    plugin.before_training_exp(strategy)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    plugin.before_backward(strategy)
    assert strategy.loss.item() == pytest.approx(5.0 * sum(t.sum().item() for t in plugin.importance.values()), rel=1e-5)


def test_si_penalty_on_embedding_rows_matches_its_formula():
    """SI's penalty plan keeps only the embedding rows that moved with a gradient (the others
    have Omega 0) and gives the value and gradient of c * sum(Omega * (theta - anchor)**2)."""
    from strategies.importance_plugins import TextSIPlugin
    from strategies.penalty import SPARSE_MIN_ROWS

    torch.manual_seed(5)
    model = nn.Sequential(nn.Embedding(SPARSE_MIN_ROWS + 10, 3), nn.Flatten(), nn.Linear(6, 2))
    plugin = TextSIPlugin(si_lambda=4.0, eps=1e-7)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    strategy = _fake_strategy(model, exp_counter=0)
    plugin.before_training_exp(strategy)
    tokens = torch.tensor([[1, 5], [7, 5]])
    _si_steps(plugin, model, optimizer, strategy, [(tokens, torch.tensor([0, 1]))] * 3)
    plugin.after_training_exp(strategy)
    omega = plugin.importance["0.weight"]
    assert omega.ne(0).any(dim=1).nonzero().flatten().tolist() == [1, 5, 7]
    strategy = _fake_strategy(model, exp_counter=1)
    plugin.before_training_exp(strategy)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5)
    plugin.before_backward(strategy)
    assert len(plugin._plan_cache[1].sparse) == 1  # the embedding, row by row
    got_value, got_grads = strategy.loss.item(), _grads(model, strategy.loss)
    expected = sum(4.0 * (plugin.importance[n] * (p - plugin.anchor[n]) ** 2).sum() for n, p in model.named_parameters())
    assert got_value == pytest.approx(expected.item(), rel=1e-5)
    torch.testing.assert_close(got_grads, _grads(model, expected))


@pytest.mark.parametrize("conflict", [True, False])
def test_agem_projection_per_tensor_equals_avalanches_concatenated_one(conflict):
    from avalanche.training.plugins import AGEMPlugin

    from strategies.agem_plugin import TextAGEMPlugin

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    refs = [torch.randn_like(p) for p in model.parameters()]
    grads = [(-r if conflict else r) + 0.3 * torch.randn_like(r) for r in refs]
    strategy = SimpleNamespace(model=model, device="cpu")
    results = []
    for plugin in (AGEMPlugin(4, 4), TextAGEMPlugin(4, 4)):
        plugin.buffers = [object()]  # a memory exists: the projection applies
        if isinstance(plugin, TextAGEMPlugin):
            plugin.reference = [r.clone() for r in refs]
            plugin.reference_square = float(sum((r * r).sum() for r in refs))
        else:
            plugin.reference_gradients = torch.cat([r.reshape(-1) for r in refs])
        for p, g in zip(model.parameters(), grads):
            p.grad = g.clone()
        plugin.after_backward(strategy)
        results.append([p.grad.clone() for p in model.parameters()])
    torch.testing.assert_close(results[1], results[0], rtol=1e-5, atol=1e-6)  # float rounding of the dots
    changed = any(not torch.equal(g, p) for g, p in zip(grads, results[1]))
    assert changed == conflict  # projected exactly when the gradients conflict


def test_agem_takes_the_memory_gradient_over_and_starts_the_step_from_none(tiny_model_dir):
    """The reference gradients are the memory batch's own .grad tensors; the parameters are left
    without gradient, as Avalanche's zero_grad leaves them."""
    from strategies.agem_plugin import TextAGEMPlugin

    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    plugin = TextAGEMPlugin(4, 4)
    plugin.buffers = [object()]
    plugin.sample_from_memory = lambda: (x, y, torch.zeros(4, dtype=torch.long))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    strategy = SimpleNamespace(model=model, device="cpu", optimizer=optimizer,
                               _criterion=nn.CrossEntropyLoss())
    plugin.before_training_iteration(strategy)
    expected = torch.autograd.grad(nn.CrossEntropyLoss()(model(x), y), list(model.parameters()))
    assert all(p.grad is None for p in model.parameters())
    torch.testing.assert_close(plugin.reference, list(expected))
    assert plugin.reference_square == pytest.approx(sum(float((g * g).sum()) for g in expected))


def test_agem_step_keeps_the_memory_loss_from_rising_under_sgd_not_under_adamw():
    """A-GEM's guarantee is about the step: after the projection <g, r> >= 0, so an SGD step
    -lr * g changes the memory loss by -lr * <g, r> <= 0 to first order (0 when projected). AdamW's step rescales
    each coordinate, and the same projected gradient can raise the memory loss (why A-GEM
    declares SGD as its optimizer)."""
    from continual.engine.template import make_optimizer
    from strategies.agem_plugin import TextAGEMPlugin

    raised = {"sgd": 0, "adamw": 0}
    for seed in range(10):
        for name in raised:
            torch.manual_seed(seed)
            model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
            refs = [torch.randn_like(p) for p in model.parameters()]
            plugin = TextAGEMPlugin(4, 4)
            plugin.buffers = [object()]
            plugin.reference = [r.clone() for r in refs]
            plugin.reference_square = float(sum((r * r).sum() for r in refs))
            for p, r in zip(model.parameters(), refs):
                p.grad = -r + 0.5 * torch.randn_like(r)  # conflicts with the memory: projected
            plugin.after_backward(SimpleNamespace(model=model))
            before = [p.detach().clone() for p in model.parameters()]
            make_optimizer(model.parameters(), lr=0.01, weight_decay=0.0, name=name).step()
            change = sum(float((r * (p.detach() - b)).sum()) for p, b, r in zip(model.parameters(), before, refs))
            raised[name] += change > 1e-5 * 0.01 * plugin.reference_square  # above float rounding
    assert raised["sgd"] == 0
    assert raised["adamw"] > 0
