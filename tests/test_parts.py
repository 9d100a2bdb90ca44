"""A batch run in parts, each part cut to its own longest text: the same outputs as the whole
batch, and the replaying strategies (replay, DER++, A-GEM) run their current and memory texts
that way, so a short bucket of current texts is not padded to the length of the memory's."""
import pytest
import torch
from avalanche.core import SupervisedPlugin

from continual import run_experiment
from continual.model import build_model, load_encoder_and_tokenizer
from strategies.agem_plugin import _by_length
from strategies.parts import in_parts
from streams.tokenization import pack

from conftest import SYNTHETIC_STREAMS
from test_mechanisms import tiny_config

SHORT = ["rash", "asthma", "cough", "fever itch"]
LONG = ["glucose insulin thirst diabetes glucose insulin", "asthma wheeze inhaler cough wheeze"]


def _packed(tokenizer, texts, length=24):
    return pack(tokenizer(texts, truncation=True, max_length=length)["input_ids"], length, tokenizer.pad_token_id)


class EncoderWidths:
    """The (rows, positions) of every call of the Hugging Face encoder inside ``model``."""

    def __init__(self, model):
        self.calls = []
        self.looked_up = []  # (rows, positions) of each word lookup
        self.handle = model.features.encoder.register_forward_pre_hook(self._called, with_kwargs=True)
        self.lookups = model.features.encoder.get_input_embeddings().register_forward_hook(
            lambda module, args, output: self.looked_up.append(tuple(args[0].shape)))

    def _called(self, module, args, kwargs):
        given = kwargs["input_ids"] if kwargs.get("input_ids") is not None else kwargs["inputs_embeds"]
        self.calls.append(tuple(given.shape[:2]))


@pytest.mark.parametrize("task_type", ["single-label", "token"])
def test_parts_give_the_whole_batchs_outputs_each_at_its_own_length(tiny_model_dir, task_type):
    encoder, tokenizer = load_encoder_and_tokenizer(tiny_model_dir)
    model = build_model(encoder, head="incremental", n_classes=3, pooling="mean", task_type=task_type,
                        experience_classes=[[0, 1]]).eval()
    x = torch.cat([_packed(tokenizer, SHORT), _packed(tokenizer, LONG)])
    lengths = x[:, 1].sum(dim=1)
    widths = EncoderWidths(model)
    with torch.no_grad():
        whole = model.features(x)
        with in_parts(model, [len(SHORT), len(LONG)]):
            parted = model.features(x)
        after = model.features(x)
    longest = int(lengths.max())
    assert widths.calls == [(6, longest), (4, int(lengths[:4].max())), (2, int(lengths[4:].max())), (6, longest)]
    assert widths.calls[1][1] < widths.calls[0][1]  # the short part really is run shorter
    # the parted forward looks its words up once, for the whole batch
    assert widths.looked_up == [(6, longest), (6, longest), (6, longest)]
    assert parted.shape == whole.shape
    if task_type == "token":  # per-token features: the real positions (padding is never read)
        real = x[:, 1, :longest].bool()
        whole, parted = whole[real], parted[real]
    torch.testing.assert_close(parted, whole, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(after[real] if task_type == "token" else after, whole)


def test_parts_that_do_not_cover_the_batch_leave_it_whole(tiny_model_dir):
    """A forward of another batch inside the step (a teacher's, a subset's) runs whole."""
    encoder, tokenizer = load_encoder_and_tokenizer(tiny_model_dir)
    model = build_model(encoder, head="fixed", n_classes=3, pooling="mean").eval()
    x = _packed(tokenizer, SHORT + LONG)
    widths = EncoderWidths(model)
    with torch.no_grad(), in_parts(model, [2, 2]):
        model(x)
    assert widths.calls == [(6, int(x[:, 1].sum(dim=1).max()))]


def test_agem_memory_sample_sorted_in_length_groups_has_the_plain_gradient(tiny_model_dir):
    """A-GEM's reference gradient from its memory sample run sorted, in length groups, equals the
    gradient of the sample as one batch (dropout off, so both see the same function)."""
    encoder, tokenizer = load_encoder_and_tokenizer(tiny_model_dir)
    model = build_model(encoder, head="fixed", n_classes=3, pooling="mean").eval()
    texts = [LONG[0], "rash", LONG[1], "cough", "asthma wheeze", "fever", "glucose insulin thirst"] * 4
    x = _packed(tokenizer, texts)
    y = torch.arange(len(texts)) % 3

    def gradient(inputs, targets, parts=None):
        model.zero_grad()
        with in_parts(model, parts):
            torch.nn.functional.cross_entropy(model(inputs), targets).backward()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    order, parts = _by_length(x)
    assert len(parts) > 1 and sum(parts) == len(texts)
    sorted_lengths = x[order, 1].sum(dim=1)
    assert torch.all(sorted_lengths[1:] >= sorted_lengths[:-1])
    for plain, grouped in zip(gradient(x, y), gradient(x[order], y[order], parts)):
        torch.testing.assert_close(grouped, plain, atol=1e-6, rtol=1e-4)


class ForwardWidths(SupervisedPlugin):
    """Per training forward: the experience, whether each row of the batch is of the experience's
    own classes (else a memory row: the stream is class-incremental), the rows' real lengths, and
    the encoder calls the forward made."""

    def __init__(self):
        super().__init__()
        self.steps, self.widths = [], None

    def before_training_exp(self, strategy, **kwargs):
        if self.widths is None:
            self.widths = EncoderWidths(strategy.model)

    def before_forward(self, strategy, **kwargs):
        self.widths.calls = []

    def after_forward(self, strategy, **kwargs):
        own = set(strategy.experience.classes_in_this_experience)
        self.steps.append((strategy.clock.train_exp_counter, [int(y) in own for y in strategy.mb_y],
                           strategy.mb_x[:, 1].sum(dim=1).tolist(), list(self.widths.calls)))


@pytest.mark.parametrize("strategy, memory_first", [("replay", False), ("der", True)])
def test_replayed_batches_run_their_current_and_memory_parts_each_at_its_own_length(
        strategy, memory_first, tiny_model_dir, tmp_path):
    spy = ForwardWidths()
    config = tiny_config(strategy, tiny_model_dir, tmp_path, {strategy: {"mem_size": "12"}})
    run_experiment(config, stream=SYNTHETIC_STREAMS["class"](), progress=False, write=False, extra_plugins=[spy])
    first = [calls for experience, _, _, calls in spy.steps if experience == 0]
    replayed = [step[1:] for step in spy.steps if step[0] > 0]
    assert first and all(len(calls) == 1 for calls in first) and replayed
    differ = 0
    for own, lengths, calls in replayed:
        cut = own.index(True) if memory_first else own.index(False)
        assert all(own[cut:]) if memory_first else not any(own[cut:])  # one block of each
        parts = [lengths[:cut], lengths[cut:]]
        assert calls == [(len(part), max(part)) for part in parts], (own, lengths, calls)
        differ += calls[0][1] != calls[1][1]
    assert differ  # some joined batch would have padded one part to the other's length


def test_multi_head_outputs_of_all_tasks_come_from_one_encoder_pass(tiny_model_dir):
    """LwF on a task stream reads every known head (Avalanche's ``forward_all_tasks``): the heads
    share the encoder, so one pass gives each head's output of a pass per task."""
    from types import SimpleNamespace

    from avalanche.benchmarks.utils.flat_data import ConstantSequence
    from avalanche.models.utils import avalanche_model_adaptation

    encoder, tokenizer = load_encoder_and_tokenizer(tiny_model_dir)
    model = build_model(encoder, head="multi", n_classes=6, pooling="mean")
    for task, classes in enumerate(([0, 1], [0, 1, 2], [0, 1])):
        avalanche_model_adaptation(model, SimpleNamespace(task_labels=ConstantSequence(task, 1), current_experience=task,
                                                          classes_in_this_experience=classes, dataset=None))
    model.eval()
    x = _packed(tokenizer, SHORT + LONG)
    widths = EncoderWidths(model)
    with torch.no_grad():
        together = model(x, None)
    assert len(widths.calls) == 1 and sorted(together) == [0, 1, 2]
    with torch.no_grad():
        for task, output in together.items():
            torch.testing.assert_close(output, model.forward_single_task(x, task))


def _peft(method):
    """A peft wrapper of the kinds that compose with replay and A-GEM (``replay+lora``, say)."""
    from peft import LoraConfig, PrefixTuningConfig, PromptTuningConfig, TaskType, get_peft_model

    config = {"prompt-tuning": lambda: PromptTuningConfig(task_type=TaskType.FEATURE_EXTRACTION, num_virtual_tokens=3),
              "prefix-tuning": lambda: PrefixTuningConfig(task_type=TaskType.FEATURE_EXTRACTION, num_virtual_tokens=3),
              "lora": lambda: LoraConfig(r=2, target_modules=["query", "value"])}[method]()
    return lambda encoder: get_peft_model(encoder, config)


@pytest.mark.parametrize("task_type, wrapper", [("single-label", None), ("token", None), ("single-label", "lora"),
                                                ("single-label", "prompt-tuning"), ("token", "prefix-tuning")])
def test_one_word_lookup_for_all_parts_gives_the_per_part_lookups_outputs_and_gradients(
        tiny_model_dir, task_type, wrapper, monkeypatch):
    """The parts' word embeddings cut from one lookup of the whole batch: the same outputs, bit
    for bit, as each part looking up its own, and the same gradients (the table's rows summed in
    another order: equal to float rounding), on a plain encoder and on the peft wrappers that
    compose with the replaying strategies."""
    encoder, tokenizer = load_encoder_and_tokenizer(tiny_model_dir)
    if wrapper:
        torch.manual_seed(0)
        encoder = _peft(wrapper)(encoder)
    model = build_model(encoder, head="incremental", n_classes=3, pooling="mean", task_type=task_type,
                        experience_classes=[[0, 1]]).eval()
    x = torch.cat([_packed(tokenizer, SHORT), _packed(tokenizer, LONG)])
    parts = [len(SHORT), len(LONG)]

    def run():
        model.zero_grad()
        with in_parts(model, parts):
            out = model.features(x)
        out.pow(2).sum().backward()
        return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    widths = EncoderWidths(model)
    shared, shared_grads = run()
    assert len(widths.looked_up) == 1
    monkeypatch.setattr(type(model.features), "_part_words", lambda self, x, pieces: [None] * len(pieces))
    widths.looked_up = []
    own, own_grads = run()
    assert len(widths.looked_up) == len(parts)
    assert torch.equal(shared, own)
    assert shared_grads.keys() == own_grads.keys()
    table = "features.encoder." + next(n for n, m in model.features.encoder.named_modules()
                                       if m is model.features.encoder.get_input_embeddings()) + ".weight"
    if wrapper is None:
        assert shared_grads[table].abs().sum() > 0
    else:
        assert table not in shared_grads  # peft freezes the table
    assert shared_grads.keys() - {table}  # gradients reach the encoder's trained tensors
    for name in own_grads:
        torch.testing.assert_close(shared_grads[name], own_grads[name], atol=1e-6, rtol=1e-5)


def test_parts_look_their_own_words_up_where_the_table_is_not_a_plain_embedding(tiny_model_dir, monkeypatch):
    """An encoder whose input embeddings are wrapped (a LoRA-adapted table, say) gets ids, part by part."""
    encoder, tokenizer = load_encoder_and_tokenizer(tiny_model_dir)
    model = build_model(encoder, head="fixed", n_classes=3, pooling="mean").eval()
    x = torch.cat([_packed(tokenizer, SHORT), _packed(tokenizer, LONG)])

    class Wrapped(torch.nn.Module):
        def __init__(self, table):
            super().__init__()
            self.table = table

    monkeypatch.setattr(model.features.encoder, "get_input_embeddings",
                        lambda: Wrapped(model.features.encoder.embeddings.word_embeddings))
    seen = []
    model.features.encoder.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs.get("input_ids") is not None), with_kwargs=True)
    with torch.no_grad(), in_parts(model, [len(SHORT), len(LONG)]):
        model.features(x)
    assert seen == [True, True]
