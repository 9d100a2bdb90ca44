"""The benchmark's printed table: each measurement of bench.json beside its target."""
from __future__ import annotations

#: What each measurement is read against. Ratios and fractions, so that any machine can compare;
#: only the default run's peak memory is absolute (MiB).
TARGETS = {"suite_over_plain_time": 1.10, "suite_over_pad128_throughput": 6.0, "utilization_fp32": 0.45,
           "utilization_bf16": 0.60, "eval_over_train_throughput": 3.5,
           "relative_cost": {"online-ewc": 1.6, "replay": 2.3, "lwf": 1.5},
           "flat_within": 0.15, "default_run_peak_mb": 2048}


def format_table(r: dict) -> str:
    """The table ``python -m continual.bench`` prints, from what bench.json holds."""
    return "\n".join([*_throughput_lines(r), "", *_relative_cost_lines(r), "", _default_run_line(r)])


def _throughput_lines(r: dict) -> list[str]:
    t = r["train_examples_per_s"]
    ratios = r["ratios"]
    return [
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
    ]


def _relative_cost_lines(r: dict) -> list[str]:
    lines = [f"{'(d) per-experience training cost / naive':<30} {'median':>7}  per experience{_plan_note(r)}"]
    spreads = r.get("relative_cost_spread", {})
    for name, values in r["relative_cost_per_experience"].items():
        lines.append(f"{name:<30} {r['relative_cost'][name]:>7.2f}  " + " ".join(f"{v:.2f}" for v in values)
                     + _cost_verdict(name, r["relative_cost"][name], spreads.get(name)))
    if r.get("naive_runs"):
        first, second = r["naive_runs"]
        ratios_2nd = " ".join(f"{b / a:.2f}" for a, b in zip(first, second))
        lines.append(f"{'naive, 2nd run / 1st (noise)':<30} {'':>7}  {ratios_2nd}  run-to-run: up to "
                     f"{r['naive_noise']:.0%} (naive = the mean of its 2 runs)")
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
