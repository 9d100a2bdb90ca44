"""The sample every measurement runs on: ICD-10-CM texts from the default stream, tokenized once."""
from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass

from .settings import BenchSettings
from .timing import non_embedding_parameters

SOURCE_STREAM = "icd10cm-chapters"


def log(message: str) -> None:
    """Progress on stderr: stdout keeps only the table."""
    print(message, file=sys.stderr)


def build_sample(plan: dict):
    """(stream, whole): the stream (d) runs through (the default stream's first ``experiences``
    experiences, at ``strategy_train_per_class``), and one experience holding every class of
    the sample, on which (a), (b), (c) and (e) see the same texts in the same length buckets."""
    import dataclasses

    from streams import BUILTIN_STREAMS

    spec = BUILTIN_STREAMS[SOURCE_STREAM]
    stream = spec.build(seed=0, n_experiences=max(spec.default_experiences, plan["experiences"]),
                        train_per_class=plan["strategy_train_per_class"], test_per_class=plan["test_per_class"])
    stream = dataclasses.replace(stream, experiences=stream.experiences[:plan["experiences"]])
    whole = spec.build(seed=0, n_experiences=1, train_per_class=plan["train_per_class"],
                       test_per_class=plan["eval_per_class"])
    return stream, whole


@dataclass
class Workload:
    """What (a), (b), (c) and (e) share: settings, device, the one-experience sample, its
    training texts, labels and real token counts, and the tokenizer."""

    settings: BenchSettings
    device: object  # torch.device
    whole: object  # the one-experience stream of :func:`build_sample`
    tokenizer: object
    texts: list
    labels: object  # a tensor of the training labels
    real_tokens: list
    useful_flops_per_example: float
    non_embedding_parameters: int

    @classmethod
    def load(cls, settings: BenchSettings, device, whole) -> "Workload":
        """Load the tokenizer (and the encoder, to count its FLOPs) and tokenize the sample."""
        import torch

        from ..model import load_encoder_and_tokenizer

        texts = list(whole.experiences[0].train_texts)
        labels = list(whole.experiences[0].train_labels)
        encoder, tokenizer = load_encoder_and_tokenizer(settings.model)
        real_tokens = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=128)["input_ids"]]
        counted = non_embedding_parameters(encoder)
        flops = 6 * counted * statistics.fmean(real_tokens)
        return cls(settings, device, whole, tokenizer, texts, torch.as_tensor(labels), real_tokens, flops, counted)

    @property
    def mean_real_tokens(self) -> float:
        return statistics.fmean(self.real_tokens)

    def fresh_model(self):
        """The same freshly initialised classifier for every plain loop (seeded head, fixed
        output size, mean pooling)."""
        import torch

        from ..model import build_model, load_encoder_and_tokenizer

        torch.manual_seed(0)
        encoder, _ = load_encoder_and_tokenizer(self.settings.model)
        return build_model(encoder, head="fixed", n_classes=self.whole.n_classes, pooling="mean",
                           precision=self.settings.precision).to(self.device)
