"""Which attention kernel a model really runs: counted on a forward pass, not read from its config.

transformers 5 runs BERT-family encoders with ``sdpa`` (PyTorch's fused
``scaled_dot_product_attention``) unless a model or a call asks for ``eager`` (explicit matmul
and softmax). A config can say one thing while a code path does another (an attention mask form
or an output flag the fused kernel does not take makes some models fall back), so the benchmark
watches the torch functions a forward pass calls.
"""
from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

ATTENTIONS = ("sdpa", "eager")


class CallCounter(TorchFunctionMode):
    """Counts the fused attention calls and the softmaxes of the torch calls made inside it."""

    def __init__(self):
        super().__init__()
        self.sdpa = 0
        self.softmax = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name == "scaled_dot_product_attention":
            self.sdpa += 1
        elif name == "softmax":
            self.softmax += 1
        return func(*args, **(kwargs or {}))


def attention_in_use(forward, x) -> str:
    """``"sdpa"`` when ``forward(x)`` calls the fused kernel, ``"eager"`` when it computes
    attention from a softmax instead, ``"none"`` when it does neither (no attention layer)."""
    counter = CallCounter()
    with torch.no_grad(), counter:
        forward(x)
    return kernel_of(counter)


def kernel_of(counter: CallCounter) -> str:
    """The kernel a :class:`CallCounter` saw: sdpa, eager (softmaxes only) or none."""
    if counter.sdpa:
        return "sdpa"
    return "eager" if counter.softmax else "none"
