"""Measured costs of a run (the memory side; wall seconds are timed by the loop)."""
from __future__ import annotations

import threading


class PeakMemory:
    """Peak resident memory of this process while the context is open (sampled every 20 ms)."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak_bytes = 0

    def __enter__(self):
        import psutil

        self._process = psutil.Process()
        self.peak_bytes = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(self.interval):
            self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20


def tensor_bytes(tree) -> int:
    """Bytes of every tensor in a nest of dicts, lists and tuples."""
    import torch

    if isinstance(tree, torch.Tensor):
        return tree.numel() * tree.element_size()
    if isinstance(tree, dict):
        return sum(tensor_bytes(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(tensor_bytes(v) for v in tree)
    return 0


def stored_bytes(strategy) -> int:
    """What the method keeps besides the one model it trains, in bytes: the state of its template
    and plugins (stored examples, importances and anchors, a teacher model, a cumulative
    dataset) and the model's tensors kept for tasks other than the live one (each task's tensors
    of a per-task method, O-LoRA's frozen adapters). The storage a deployment holds per task."""
    from strategies.efficient_models import OrthogonalLoRA
    from strategies.state import NotCapturable

    from ..state.plugin_state import state_of

    total = 0
    for target in (strategy, *strategy.plugins):
        try:
            total += tensor_bytes(state_of(target).state_dict(examples=True))
        except NotCapturable:
            continue
    model = strategy.model
    total += sum(tensor_bytes(b) for name, b in model.named_buffers() if name.rpartition(".")[2].startswith("slot"))
    for module in model.modules():
        if isinstance(module, OrthogonalLoRA):
            total += sum(tensor_bytes(p) for name, p in module.named_parameters()
                         if "lora_" in name and not p.requires_grad)
    return total
