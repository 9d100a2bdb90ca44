"""``python -m continual.bench``: how fast is training and evaluation, against what baseline.

Measured in one process, on the same model and the same ICD-10-CM texts, after a warm-up, as
medians of repeated timings; (a), (b), (c) and (e) on one experience holding the whole sample,
so that the three training loops see the same texts in the same length buckets:

(a) ``pad128``: a plain PyTorch loop that pads every text to 128 tokens (the classic BERT
    fine-tuning tutorial);
(b) ``plain``: a plain PyTorch loop with the suite's batching (length buckets drawn afresh each
    epoch, each batch cut to its longest text), timed per epoch after the first, as (c);
    (a) and (b) use the suite's optimizer (fused AdamW), so the three loops differ only in
    batching and in the loop around the step;
(c) ``suite``: the suite's own training path (``run_experiment`` with ``naive``, through
    Avalanche's template), timed per epoch after the first;
(d) the per-experience training cost of each strategy relative to naive as experiences accrue
    (naive runs first and last: the mean of its two runs is the baseline, their difference the
    machine's run-to-run noise, against which a flatness target can be read);
(e) evaluation throughput of the suite's evaluation loop (median of ``eval_repeats`` evaluations
    of the sample's test set by the model (c) trained, the run's own evaluation the first);
(f) the machine's dense matmul peak (fp32 and bf16; best timing, measured at the start and the end)
    and the model's useful FLOPs per example
    (6 x non-embedding encoder parameters x real tokens), giving utilization as a ratio;
(g) the peak resident memory of a default run (``python -m continual.run`` with its defaults: the
    main job, ``ewc``), run in a process of its own after every timing above, into a temporary
    folder (full benchmark only; about 2 minutes on the 2-core reference machine).

It prints a table and writes ``<out>/bench.json``. No timing is asserted anywhere: the numbers are
measurements to read, compare and paste.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from .errors import ArgumentParser, UserError, exit_code, quiet_library_warnings

#: (a), (b), (c) and (e) run on one experience holding the whole sample (every class: the same
#: texts and the same length buckets for all three loops); (d) runs the strategies through
#: ``experiences`` experiences of the same stream, ``strategy_epochs`` epochs each (the full
#: benchmark: 2, the default run's, so that a strategy's fixed per-experience work, such as an
#: importance pass, weighs as much against the training epochs as in a default run).
FULL = {"experiences": 5, "train_per_class": 40, "test_per_class": 20, "eval_per_class": 60, "chunks": 5,
        "steps": 6, "suite_epochs": 3, "eval_repeats": 5, "strategy_epochs": 2,
        "strategies": ["naive", "ewc", "online-ewc", "si", "mas", "replay", "der", "agem", "lwf",
                       "expanding-heads"]}
QUICK = {"experiences": 3, "train_per_class": 12, "test_per_class": 6, "eval_per_class": 20, "chunks": 3,
         "steps": 3, "suite_epochs": 2, "eval_repeats": 3, "strategy_epochs": 1,
         "strategies": ["naive", "online-ewc", "replay", "lwf"]}
#: targets of issue 7 on the 2-core reference machine (ratios, so any machine can compare)
TARGETS = {"suite_over_plain_time": 1.10, "suite_over_pad128_throughput": 6.0, "utilization_fp32": 0.45,
           "utilization_bf16": 0.60, "eval_over_train_throughput": 3.5,
           "relative_cost": {"online-ewc": 1.6, "replay": 2.3, "lwf": 1.5},
           "flat_within": 0.15, "default_run_peak_mb": 2048}


def flatness(per_experience: list[float]) -> Optional[float]:
    """Spread of the relative cost from the second to the last experience: max / min - 1.

    ``None`` with fewer than two experiences after the first (nothing to compare).
    """
    later = per_experience[1:]
    if len(later) < 2 or min(later) <= 0:
        return None
    return max(later) / min(later) - 1


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m continual.bench", description=__doc__.split("\n\n")[0],
               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a rough run of about a minute")
    p.add_argument("--out", default="results/bench", help="folder for bench.json")
    p.add_argument("--model", default=None, help="Hugging Face name or local folder (default: packaged MiniLM)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="autocast precision of the encoder")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="device")
    p.add_argument("--batch-size", type=int, default=32, help="training batch size")
    p.add_argument("--eval-batch-size", type=int, default=256, help="evaluation batch size")
    p.add_argument("--train-per-class", type=int, default=None, help="stream sample: training texts per class")
    p.add_argument("--strategies", default=None, help="comma-separated strategies for (d); default depends on --quick")
    p.add_argument("--no-default-run", action="store_true", help="leave out (g), the peak memory of a default run (--quick always does)")
    return p


def default_run_command(args, out_dir: str, extra: Sequence[str] = ()) -> list[str]:
    """(g)'s command: the main job with its defaults, on the benchmark's model, device and
    precision, writing into ``out_dir``; ``extra`` arguments go last (tests shrink the run)."""
    command = [sys.executable, "-m", "continual.run", "--strategy", "ewc", "--no-progress", "--out", out_dir,
               "--device", args.device, "--precision", args.precision]
    if args.model:
        command += ["--model", args.model]
    return [*command, *extra]


def measure_default_run(args, extra: Sequence[str] = ()) -> dict:
    """Run (g) in a process of its own; its metrics.json gives the peak resident memory.

    Returns ``peak_rss_mb``, ``train_seconds`` and ``wall_seconds``, or ``error`` (the run's last
    line of stderr) when the run failed; nothing of it is kept.
    """
    import shutil
    import subprocess
    import tempfile

    folder = tempfile.mkdtemp(prefix="continual-bench-")
    try:
        command = default_run_command(args, folder, extra)
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        found = sorted(Path(folder).glob("*/*/seed-*/metrics.json"))
        if done.returncode != 0 or not found:
            lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
            return {"command": command[1:], "error": lines[-1]}
        metrics = json.loads(found[0].read_text())
        return {"command": command[1:], "peak_rss_mb": metrics["peak_rss_mb"],
                "train_seconds": sum(metrics["train_seconds"]), "wall_seconds": wall}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _median_rate(examples: int, seconds: list[float]) -> float:
    return examples / statistics.median(seconds)


def matmul_gflops(device, dtype, n: int = 1024, repeats: int = 5) -> float:
    """Dense matmul peak: the best GFLOP/s of ``repeats`` timings of four n x n products (2 n^3
    FLOPs each). The best, not the median: a peak is what the hardware can reach, and on a shared
    machine single timings can halve."""
    import torch

    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b

    def four_products():
        for _ in range(4):
            a @ b

    times = [t / 4 for t in _timings(device, repeats, four_products)]
    return 2 * n**3 / min(times) / 1e9


def _timings(device, repeats: int, work) -> list[float]:
    """Wall seconds of each of ``repeats`` calls of ``work()``, the device synchronized around
    each (CUDA runs asynchronously)."""
    import torch

    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        work()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def run_to_run_noise(first: list[float], second: list[float]) -> float:
    """How far two runs of the same work differ, per experience: max |a - b| / mean(a, b)."""
    return max((abs(a - b) / ((a + b) / 2) for a, b in zip(first, second) if a + b > 0), default=0.0)


def non_embedding_parameters(encoder) -> int:
    return sum(p.numel() for n, p in encoder.named_parameters() if "embeddings" not in n)


def _plain_loop(model, batches, optimizer, device, *, chunks: int, steps: int) -> list[float]:
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

    return _timings(device, chunks, chunk)


def run_bench(args) -> dict:
    import torch

    from streams import BUILTIN_STREAMS
    from streams.tokenization import pack

    from . import ExperimentConfig, ModelConfig, StreamConfig, TrainingConfig
    from .engine.assemble import resolve_device
    from .engine.loop import run_experiment
    from .model import build_model, load_encoder_and_tokenizer
    from streams.batching import BucketBatchSampler

    from .engine.template import make_optimizer

    plan = dict(QUICK if args.quick else FULL)
    if args.train_per_class:
        plan["train_per_class"] = args.train_per_class
    strategies = args.strategies.split(",") if args.strategies else plan["strategies"]
    strategies = list(dict.fromkeys(strategies))  # each once (naive runs twice anyway)
    if "naive" not in strategies:
        strategies = ["naive", *strategies]
    device = resolve_device(args.device)
    spec = BUILTIN_STREAMS["icd10cm-chapters"]
    stream = spec.build(seed=0, n_experiences=plan["experiences"], train_per_class=plan["train_per_class"],
                        test_per_class=plan["test_per_class"])
    whole = spec.build(seed=0, n_experiences=1, train_per_class=plan["train_per_class"],
                       test_per_class=plan["eval_per_class"])
    texts = list(whole.experiences[0].train_texts)
    labels = list(whole.experiences[0].train_labels)
    bs = args.batch_size
    results: dict = {"device": str(device), "precision": args.precision, "threads": torch.get_num_threads(),
                     "batch_size": bs, "plan": plan, "strategies": strategies}

    # (f) the machine's matmul peak
    print("measuring the matmul peak ...", file=sys.stderr)
    results["matmul_gflops"] = matmul_gflops(device, torch.float32)
    results["matmul_gflops_bf16"] = matmul_gflops(device, torch.bfloat16)

    encoder, tokenizer = load_encoder_and_tokenizer(args.model)
    real_tokens = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=128)["input_ids"]]
    mean_tokens = statistics.fmean(real_tokens)
    flops_per_example = 6 * non_embedding_parameters(encoder) * mean_tokens
    results.update(mean_real_tokens=mean_tokens, useful_flops_per_example=flops_per_example)
    y = torch.as_tensor(labels)

    def fresh_model():
        torch.manual_seed(0)
        enc, _ = load_encoder_and_tokenizer(args.model)
        return build_model(enc, head="fixed", n_classes=whole.n_classes, pooling="mean",
                           precision=args.precision).to(device)

    # (a) tutorial loop: every text padded to 128
    print("(a) plain loop, padded to 128 ...", file=sys.stderr)
    ids128 = tokenizer(texts, truncation=True, max_length=128, padding="max_length")
    x128 = torch.stack([torch.as_tensor(ids128["input_ids"]), torch.as_tensor(ids128["attention_mask"])], 1)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    batches = [(x128[order[i:i + bs]], y[order[i:i + bs]]) for i in range(0, len(y) - bs + 1, bs)]
    model = fresh_model()
    model.features.forward = _untrimmed_forward(model.features)  # no cutting: the tutorial way
    times = _plain_loop(model, batches, make_optimizer(model.parameters(), lr=1e-4, weight_decay=0.01), device,
                        chunks=plan["chunks"], steps=plan["steps"])
    pad128 = _median_rate(plan["steps"] * bs, times)

    # (b) plain loop, the suite's batching
    print("(b) plain loop, length buckets + trimming ...", file=sys.stderr)
    ids = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    packed = pack(ids, max(len(i) for i in ids), tokenizer.pad_token_id or 0)
    sampler = BucketBatchSampler(real_tokens, bs, generator=torch.Generator().manual_seed(0), drop_last=True)
    # each epoch's batches drawn afresh from the sampler, as (c)'s loader does (one epoch's
    # batches repeated would time one draw of the buckets against (c)'s several)
    epochs = [[(packed[b], y[b]) for b in sampler] for _ in range(plan["suite_epochs"] + 1)]
    batches = [batch for epoch in epochs for batch in epoch]
    model = fresh_model()
    # whole epochs' worth of steps, the first a warm-up, as (c) is timed: a chunk of a few
    # batches would weigh the length buckets it happens to hold
    times = _plain_loop(model, batches, make_optimizer(model.parameters(), lr=1e-4, weight_decay=0.01), device,
                        chunks=plan["suite_epochs"], steps=len(epochs[0]))
    plain = _median_rate(len(epochs[0]) * bs, times[1:] or times)  # examples per timed epoch
    results["plain_epoch_seconds"] = times
    del model

    def suite_config(name: str, epochs: int, experiences: int):
        return ExperimentConfig(
            strategy=name, seed=0, out="unused",
            stream=StreamConfig(no_cache=True, experiences=experiences),
            model=ModelConfig(model=args.model),
            training=TrainingConfig(epochs=epochs, batch_size=bs, eval_batch_size=args.eval_batch_size,
                                    device=args.device, precision=args.precision))

    # (c) and (e): the suite's own path (naive) on the same texts as (a) and (b); the epochs after
    # the first are the warm measurement, as the plain loops' chunks after their warm-up
    print("(c) the suite through Avalanche, one experience ...", file=sys.stderr)
    timer = _epoch_timer()
    result = run_experiment(suite_config("naive", plan["suite_epochs"], 1), stream=whole, progress=False,
                            write=False, extra_plugins=[timer])
    warm = timer.seconds[1:] or timer.seconds
    suite = _median_rate(timer.examples[-1], warm)
    # (e): the same evaluation as the run's, repeated on the trained model (the run's own one
    # is the first timing)
    eval_times = [result.metrics["eval_seconds"][0], *timer.eval_seconds(plan["eval_repeats"] - 1)]
    eval_rate = _median_rate(whole.experiences[0].n_test, eval_times)

    # (d): each strategy through the experiences of the stream; naive first and again last, its
    # two runs' mean the baseline and their difference the run-to-run noise of the machine
    per_experience: dict[str, list[float]] = {}
    naive_runs: list[list[float]] = []
    for name in [*strategies, "naive"]:
        print(f"(d) {name} through {plan['experiences']} experiences ...", file=sys.stderr)
        result = run_experiment(suite_config(name, plan["strategy_epochs"], plan["experiences"]), stream=stream,
                                progress=False, write=False)
        if name == "naive":
            naive_runs.append(result.metrics["train_seconds"])
        else:
            per_experience[name] = result.metrics["train_seconds"]
    per_experience = {"naive": [statistics.fmean(v) for v in zip(*naive_runs)], **per_experience}
    naive = per_experience["naive"]
    relative_per_experience = {n: [s / b for s, b in zip(v, naive)] for n, v in per_experience.items()}
    relative = {n: statistics.median(v[1:] or v) for n, v in relative_per_experience.items()}
    # the peak again at the end, keeping the better of the two measurements
    results["matmul_gflops"] = max(results["matmul_gflops"], matmul_gflops(device, torch.float32))
    results["matmul_gflops_bf16"] = max(results["matmul_gflops_bf16"], matmul_gflops(device, torch.bfloat16))
    peak = results["matmul_gflops_bf16" if args.precision == "bf16" else "matmul_gflops"]
    results.update(
        train_examples_per_s={"pad128": pad128, "plain": plain, "suite": suite},
        suite_epoch_seconds=timer.seconds,
        eval_seconds=eval_times,
        eval_examples_per_s=eval_rate,
        utilization=suite * flops_per_example / (results["matmul_gflops"] * 1e9),
        utilization_of_precision_peak=suite * flops_per_example / (peak * 1e9),
        relative_cost=relative,
        relative_cost_per_experience=relative_per_experience,
        relative_cost_spread={n: flatness(v) for n, v in relative_per_experience.items()},
        train_seconds_per_experience=per_experience,
        naive_runs=naive_runs,
        naive_noise=run_to_run_noise(*naive_runs),
    )
    results["ratios"] = {
        "suite_over_plain_time": plain / suite,
        "suite_over_pad128_throughput": suite / pad128,
        "eval_over_train_throughput": results["eval_examples_per_s"] / suite,
    }
    # (g) last, alone: nothing else runs while it is measured
    if not (args.quick or args.no_default_run):
        print("(g) a default run (python -m continual.run --strategy ewc) for its peak memory ...", file=sys.stderr)
        results["default_run"] = measure_default_run(args)
        results["default_run_peak_mb"] = results["default_run"].get("peak_rss_mb")
    return results


def _epoch_timer():
    """An Avalanche plugin recording the seconds and examples of every training epoch."""
    from avalanche.core import SupervisedPlugin

    class EpochTimer(SupervisedPlugin):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []
            self.examples: list[int] = []

        def before_training_epoch(self, strategy, **kwargs):
            self._start, self._n = time.perf_counter(), 0

        def after_training_iteration(self, strategy, **kwargs):
            self._n += len(strategy.mb_y)

        def after_training_epoch(self, strategy, **kwargs):
            self.seconds.append(time.perf_counter() - self._start)
            self.examples.append(self._n)

        def before_eval(self, strategy, **kwargs):
            self.strategy, self.eval_experiences = strategy, []

        def before_eval_exp(self, strategy, **kwargs):
            self.eval_experiences.append(strategy.experience)

        def eval_seconds(self, repeats: int) -> list[float]:
            """Seconds of each of ``repeats`` more evaluations of the last evaluated stream,
            through the strategy's own evaluation (its loaders, plugins and metrics)."""
            experiences = list(self.eval_experiences)
            return _timings(self.strategy.device, repeats, lambda: self.strategy.eval(experiences))

    return EpochTimer()


def _untrimmed_forward(text_encoder):
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


def _plan_note(r: dict) -> str:
    plan = r.get("plan") or {}
    if "experiences" not in plan or "strategy_epochs" not in plan:
        return ""
    epochs = plan["strategy_epochs"]
    return f" ({plan['experiences']} experiences, {epochs} epoch{'s' if epochs != 1 else ''} each)"


def format_table(r: dict) -> str:
    t = r["train_examples_per_s"]
    ratios = r["ratios"]
    lines = [
        f"device {r['device']}, precision {r['precision']}, {r['threads']} threads, batch {r['batch_size']}, "
        f"mean {r['mean_real_tokens']:.1f} real tokens per text",
        "",
        f"{'measure':<46} {'value':>12}  target",
        f"{'matmul peak fp32 (GFLOP/s)':<46} {r['matmul_gflops']:>12.1f}",
        f"{'matmul peak bf16 (GFLOP/s)':<46} {r['matmul_gflops_bf16']:>12.1f}",
        f"{'(a) train, plain loop padded to 128 (ex/s)':<46} {t['pad128']:>12.1f}",
        f"{'(b) train, plain loop with buckets (ex/s)':<46} {t['plain']:>12.1f}",
        f"{'(c) train, suite through Avalanche (ex/s)':<46} {t['suite']:>12.1f}",
        f"{'(e) evaluation, suite (ex/s)':<46} {r['eval_examples_per_s']:>12.1f}",
        _target_line("(c)/(b) time", ratios["suite_over_plain_time"], TARGETS["suite_over_plain_time"], "<="),
        _target_line("(c)/(a) throughput", ratios["suite_over_pad128_throughput"],
                     TARGETS["suite_over_pad128_throughput"], ">="),
        _target_line("useful-FLOP utilization of (c), fp32 peak", r["utilization"],
                     TARGETS["utilization_bf16" if r["precision"] == "bf16" else "utilization_fp32"], ">="),
        _target_line("evaluation / training throughput", ratios["eval_over_train_throughput"],
                     TARGETS["eval_over_train_throughput"], ">="),
        "",
        f"{'(d) per-experience training cost / naive':<30} {'median':>7}  per experience{_plan_note(r)}",
    ]
    spreads = r.get("relative_cost_spread", {})
    flat = TARGETS["flat_within"]
    for name, values in r["relative_cost_per_experience"].items():
        target = TARGETS["relative_cost"].get(name)
        verdict = ""
        if target is not None:
            cost = r["relative_cost"][name]
            verdict = f"  target <= {target}: {'met' if cost <= target else f'missed by {cost - target:.2f}'}"
            spread = spreads.get(name)
            if spread is not None:
                verdict += (f"; flat 2nd..last within {flat:.0%}: spread {spread:.0%} "
                            f"({'met' if spread <= flat else f'missed by {spread - flat:.0%}'})")
        lines.append(f"{name:<30} {r['relative_cost'][name]:>7.2f}  " + " ".join(f"{v:.2f}" for v in values) + verdict)
    if r.get("naive_runs"):
        first, second = r["naive_runs"]
        ratios_2nd = " ".join(f"{b / a:.2f}" for a, b in zip(first, second))
        lines.append(f"{'naive, 2nd run / 1st (noise)':<30} {'':>7}  {ratios_2nd}  run-to-run: up to "
                     f"{r['naive_noise']:.0%} (naive = the mean of its 2 runs)")
    lines += ["", _default_run_line(r)]
    return "\n".join(lines)


def _default_run_line(r: dict) -> str:
    label = "(g) peak memory of a default run (ewc), MiB"
    run = r.get("default_run")
    if run is None:
        return f"{label:<46} {'not measured':>12}  (--quick or --no-default-run)"
    if "error" in run:
        return f"{label:<46} {'failed':>12}  ({run['error']})"
    target = TARGETS["default_run_peak_mb"]
    peak = run["peak_rss_mb"]
    verdict = "met" if peak <= target else f"missed by {peak - target:.0f}"
    return (f"{label:<46} {peak:>12.0f}  <= {target} ({verdict}); "
            f"training {run['train_seconds']:.0f} s, wall {run['wall_seconds']:.0f} s")


def _target_line(label: str, value: float, target: float, sense: str) -> str:
    met = value <= target if sense == "<=" else value >= target
    verdict = "met" if met else f"missed by {abs(value - target):.2f}"
    return f"{label:<46} {value:>12.2f}  {sense} {target} ({verdict})"


def main(argv: Optional[Sequence[str]] = None) -> int:
    quiet_library_warnings()

    def body() -> int:
        args = build_parser().parse_args(argv)
        if args.batch_size < 1 or args.eval_batch_size < 1:
            raise UserError("batch sizes must be positive")
        out = Path(args.out)
        results = run_bench(args)
        from .state.files import write_json

        write_json(out / "bench.json", results)
        print(format_table(results))
        print(f"\nwrote {out / 'bench.json'}", file=sys.stderr)
        return 0

    return exit_code(body)


if __name__ == "__main__":
    sys.exit(main())
