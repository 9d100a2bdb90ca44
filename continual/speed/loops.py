"""(a) and (b): plain PyTorch training loops on the sample, the baselines (c) is read against.

Both use the suite's optimizer (fused AdamW), so that (a), (b) and (c) differ only in batching
and in the loop around the step.
"""
from __future__ import annotations

from .timing import median_rate, timings
from .workload import Workload, log


def plain_loop(model, batches, optimizer, device, *, chunks: int, steps: int) -> list[float]:
    """Seconds per chunk of ``steps`` training steps over ``batches`` (cycled), after a warm-up."""
    import torch

    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()

    def step(batch):
        x, y = (t.to(device) for t in batch)
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()

    it = iter(batches * (chunks * steps // max(len(batches), 1) + 3))
    for _ in range(2):
        step(next(it))

    def chunk():
        for _ in range(steps):
            step(next(it))

    return timings(device, chunks, chunk)


def untrimmed_forward(text_encoder):
    """The encoder over all 128 positions (what the tutorial loop does)."""
    import torch

    def forward(x):
        ids, mask = x[:, 0], x[:, 1]
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16,
                            enabled=text_encoder.precision == "bf16"):
            hidden = text_encoder.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return ((hidden * m).sum(1) / m.sum(1).clamp(min=1)).float()

    return forward


def _optimizer(model):
    from ..engine.template import make_optimizer

    return make_optimizer(model.parameters(), lr=1e-4, weight_decay=0.01)


def _padded_batches(work: Workload, bs: int):
    """The sample padded to 128 tokens, in seeded random batches of ``bs`` (the tutorial loop's)."""
    import torch

    y = work.labels
    ids128 = work.tokenizer(work.texts, truncation=True, max_length=128, padding="max_length")
    x128 = torch.stack([torch.as_tensor(ids128["input_ids"]), torch.as_tensor(ids128["attention_mask"])], 1)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    return [(x128[order[i:i + bs]], y[order[i:i + bs]]) for i in range(0, len(y) - bs + 1, bs)]


def plain_attention(work: Workload) -> dict:
    """The attention kernel the models of (a) and (b) run (:func:`.attention.attention_in_use`)."""
    from .attention import attention_in_use

    x = _padded_batches(work, min(work.settings.batch_size, len(work.labels)))[0][0].to(work.device)
    model = work.fresh_model()
    trimmed = attention_in_use(model, x)
    model.features.forward = untrimmed_forward(model.features)
    return {"pad128": attention_in_use(model, x), "plain": trimmed}


def measure_pad128(work: Workload) -> float:
    """(a): training examples per second of the tutorial loop, every text padded to 128 tokens."""
    log("(a) plain loop, padded to 128 ...")
    plan, bs = work.settings.plan, work.settings.batch_size
    batches = _padded_batches(work, bs)
    model = work.fresh_model()
    model.features.forward = untrimmed_forward(model.features)  # no cutting: the tutorial way
    times = plain_loop(model, batches, _optimizer(model), work.device, chunks=plan["chunks"], steps=plan["steps"])
    return median_rate(plan["steps"] * bs, times)


def measure_plain(work: Workload) -> tuple[float, list[float]]:
    """(b): training examples per second of a plain loop with the suite's batching (length
    buckets, each batch cut to its longest text), and the seconds of each epoch."""
    import torch

    from streams.batching import BucketBatchSampler
    from streams.tokenization import pack

    log("(b) plain loop, length buckets + trimming ...")
    plan, bs, y = work.settings.plan, work.settings.batch_size, work.labels
    ids = work.tokenizer(work.texts, truncation=True, max_length=128)["input_ids"]
    packed = pack(ids, max(len(i) for i in ids), work.tokenizer.pad_token_id or 0)
    sampler = BucketBatchSampler(work.real_tokens, bs, generator=torch.Generator().manual_seed(0), drop_last=True)
    # each epoch's batches drawn afresh from the sampler, as (c)'s loader does (one epoch's
    # batches repeated would time one draw of the buckets against (c)'s several)
    epochs = [[(packed[b], y[b]) for b in sampler] for _ in range(plan["suite_epochs"] + 1)]
    batches = [batch for epoch in epochs for batch in epoch]
    model = work.fresh_model()
    # whole epochs' worth of steps, the first a warm-up, as (c) is timed: a chunk of a few
    # batches would weigh the length buckets it happens to hold
    times = plain_loop(model, batches, _optimizer(model), work.device,
                       chunks=plan["suite_epochs"], steps=len(epochs[0]))
    return median_rate(len(epochs[0]) * bs, times[1:] or times), times  # examples per timed epoch
