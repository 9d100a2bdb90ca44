"""What the benchmark measures and on which sample: its settings and its two plans."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..errors import UserError

#: (a), (b), (c) and (e) run on one experience holding the whole sample (every class: the same
#: texts and the same length buckets for all three loops, ``train_per_class`` texts each); (d)
#: runs the strategies through the first ``experiences`` experiences of the default stream at
#: its own size (``strategy_train_per_class`` training texts per class: the default budget, so
#: an importance pass weighs against the training epochs as in a default run; tiny experiences
#: would let fixed per-experience costs hide or dominate), ``strategy_epochs`` epochs each, the
#: default run's; the long-text workload (:mod:`.long_text`) builds ``long_chapters`` x
#: (``long_train_per_class`` + ``long_test_per_class``) documents of ``long_tokens`` word pieces.
FULL = {"experiences": 2, "train_per_class": 40, "strategy_train_per_class": 200, "test_per_class": 20,
        "eval_per_class": 60, "chunks": 5, "steps": 6, "suite_epochs": 3, "eval_repeats": 5, "strategy_epochs": 2,
        "strategies": ["naive", "ewc", "online-ewc", "si", "mas", "replay", "der", "agem", "lwf", "frozen", "bitfit",
                       "adapters", "ia3", "lora", "o-lora", "prompt-tuning", "prefix-tuning"],
        "long_chapters": 4, "long_train_per_class": 16, "long_test_per_class": 8, "long_tokens": [128, 512],
        "long_epochs": 2, "long_eval_repeats": 3}
QUICK = {"experiences": 3, "train_per_class": 12, "strategy_train_per_class": 12, "test_per_class": 6,
         "eval_per_class": 20, "chunks": 3, "steps": 3, "suite_epochs": 2, "eval_repeats": 3, "strategy_epochs": 1,
         "strategies": ["naive", "online-ewc", "replay", "lwf"],
         "long_chapters": 2, "long_train_per_class": 4, "long_test_per_class": 2, "long_tokens": [32, 96],
         "long_epochs": 2, "long_eval_repeats": 2}


@dataclass
class BenchSettings:
    """The model, device and sample the benchmark runs on (the ``continual.bench`` flags)."""

    model: Optional[str] = None  # Hugging Face name or local folder; None: the packaged MiniLM
    precision: str = "fp32"  # autocast precision of the encoder: fp32 | bf16
    device: str = "auto"  # auto | cpu | cuda
    batch_size: int = 32  # training batch size
    eval_batch_size: int = 256  # evaluation batch size
    quick: bool = False  # the QUICK plan, and no default run (g)
    train_per_class: Optional[int] = None  # overrides the plan's training texts per class
    strategies: Optional[list[str]] = None  # (d)'s strategies; None: the plan's
    default_run: bool = True  # measure (g) (never with ``quick``)
    plan: dict = field(init=False, repr=False)

    def __post_init__(self):
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise UserError("batch sizes must be positive")
        self.plan = dict(QUICK if self.quick else FULL)
        if self.train_per_class:  # shrinks (or grows) both samples
            self.plan["train_per_class"] = self.plan["strategy_train_per_class"] = self.train_per_class

    @property
    def strategy_names(self) -> list[str]:
        """(d)'s strategies, each once, naive first (it also runs again last, as the baseline)."""
        names = list(dict.fromkeys(self.strategies or self.plan["strategies"]))
        return names if "naive" in names else ["naive", *names]

    @property
    def measures_default_run(self) -> bool:
        return self.default_run and not self.quick
