"""The benchmark's printed table: each measurement of bench.json beside its target."""
from __future__ import annotations

#: What each measurement is read against. Ratios and fractions, so that any machine can compare;
#: only the default run's peak memory is absolute (MiB).
TARGETS = {"suite_over_plain_time": 1.10, "suite_over_pad128_throughput": 6.0, "utilization_fp32": 0.45,
           "utilization_bf16": 0.60, "eval_over_train_throughput": 4.0,
           "relative_cost": {"ewc": 1.5, "online-ewc": 1.5, "mas": 1.5, "si": 1.3, "replay": 2.0, "der": 2.0,
                             "agem": 2.0, "lwf": 1.3},
           "flat_within": 0.15, "default_run_peak_mb": 2048}


def format_table(r: dict) -> str:
    """The table ``python -m continual.bench`` prints, from what bench.json holds."""
    return "\n".join([*_busy_lines(r), *_throughput_lines(r), *_attention_lines(r), "", *_long_text_lines(r), "",
                      *_relative_cost_lines(r), "", _default_run_line(r)])


def _busy_lines(r: dict) -> list[str]:
    """A warning first when other processes ran during the measurements."""
    if not r.get("machine_busy"):
        return []
    load = r.get("machine_load", {})
    phases = {k: v for k, v in load.get("other_cores_by_phase", {}).items()
              if v is not None and v > load.get("busy_above_cores", 0)}
    seen = ", ".join(f"{k}: {v:.2f}" for k, v in phases.items())
    return [f"MACHINE BUSY: other processes used more than {load.get('busy_above_cores')} cores ({seen}); "
            "the timings and ratios below measure the load, not the code: rerun on a quiet machine", ""]


def _attention_lines(r: dict) -> list[str]:
    if "attention" not in r:
        return []
    kernels = ", ".join(f"{k} {v}" for k, v in r["attention"].items())
    speed = r.get("sdpa_speedup", {})
    return [f"{'attention kernel run by each path':<46} {kernels}",
            f"{'sdpa over eager, train / eval throughput':<46} {speed.get('train', 0):>12.2f}  / {speed.get('eval', 0):.2f}"]


def _long_text_lines(r: dict) -> list[str]:
    long = r.get("long_text")
    if not long:
        return []
    lengths = long["lengths"]
    speed = long["sdpa_speedup"]
    return [
        f"long texts: {lengths['documents']} documents of {lengths['min']}-{lengths['max']} tokens "
        f"(median {lengths['median']:.0f}), --max-length {long['max_length']}",
        f"{'  train, suite (ex/s, tokens/s)':<46} {long['train_examples_per_s']:>12.2f}  {long['train_tokens_per_s']:.0f}",
        f"{'  evaluation, suite (ex/s, tokens/s)':<46} {long['eval_examples_per_s']:>12.2f}  {long['eval_tokens_per_s']:.0f}",
        f"{'  useful-FLOP utilization (linear layers), fp32':<46} {long['utilization']:>12.2f}",
        f"{'  sdpa over eager, train / eval throughput':<46} {speed['train']:>12.2f}  / {speed['eval']:.2f}",
    ]


def _throughput_lines(r: dict) -> list[str]:
    t = r["train_examples_per_s"]
    ratios = r["ratios"]
    return [
        f"device {r['device']}, precision {r['precision']}, {r['threads']} threads, batch {r['batch_size']}, "
        f"mean {r['mean_real_tokens']:.1f} real tokens per text",
        "",
        f"{'measure':<46} {'value':>12}  target",
        f"{'matmul peak fp32 (GFLOP/s)':<46} {r['matmul_gflops']:>12.1f}{_peak_note(r, 'fp32')}",
        f"{'matmul peak bf16 (GFLOP/s)':<46} {r['matmul_gflops_bf16']:>12.1f}{_peak_note(r, 'bf16')}",
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
    ]


def _peak_note(r: dict, precision: str) -> str:
    peak = r.get("matmul_peak", {}).get(precision)
    if not peak:
        return ""
    start, end = peak["start_and_end"]
    return f"  at n={peak['size']}; repeats within {peak['spread']:.0%}; start {start:.0f}, end {end:.0f}"


def _relative_cost_lines(r: dict) -> list[str]:
    lines = [f"{'(d) per-experience training cost / naive':<30} {'median':>7} {'floor':>6} {'/floor':>6}  "
             f"per experience{_plan_note(r)}"]
    spreads = r.get("relative_cost_spread", {})
    floor = r.get("strategy_floor", {})
    for name, values in r["relative_cost_per_experience"].items():
        f = floor.get(name, {}).get("floor")
        floor_cells = f"{f:>6.2f} {r['relative_cost'][name] / f:>6.2f}" if f else f"{'':>6} {'':>6}"
        lines.append(f"{name:<30} {r['relative_cost'][name]:>7.2f} {floor_cells}  " + " ".join(f"{v:.2f}" for v in values)
                     + _cost_verdict(name, r["relative_cost"][name], spreads.get(name)))
    runs = r.get("naive_runs") or []
    if len(runs) >= 2:
        lines.append(f"{'naive, run-to-run noise':<30} up to {r['naive_noise']:.0%} over {len(runs)} runs "
                     "(each strategy against the median of the 3 naive runs nearest it)")
    return lines


def _cost_verdict(name: str, cost: float, spread) -> str:
    """The relative cost against its target and, where measured, its flatness against
    ``flat_within``; empty for a strategy without a target."""
    target = TARGETS["relative_cost"].get(name)
    if target is None:
        return ""
    verdict = f"  target <= {target}: {'met' if cost <= target else f'missed by {cost - target:.2f}'}"
    if spread is not None:
        flat = TARGETS["flat_within"]
        verdict += (f"; flat 2nd..last within {flat:.0%}: spread {spread:.0%} "
                    f"({'met' if spread <= flat else f'missed by {spread - flat:.0%}'})")
    return verdict


def _plan_note(r: dict) -> str:
    plan = r.get("plan") or {}
    if "experiences" not in plan or "strategy_epochs" not in plan:
        return ""
    epochs = plan["strategy_epochs"]
    return f" ({plan['experiences']} experiences, {epochs} epoch{'s' if epochs != 1 else ''} each)"


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
