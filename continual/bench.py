"""``python -m continual.bench``: how fast is training and evaluation, against what baseline.

The command line over :func:`continual.speed.measure.run_bench` (what is measured, (a) to (g),
is described in :mod:`continual.speed`): parse, measure, write ``<out>/bench.json``, print the
table of :func:`continual.speed.table.format_table`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from .errors import ArgumentParser, exit_code, quiet_library_warnings
from .speed.measure import run_bench
from .speed.settings import BenchSettings
from .speed.table import format_table
from .state.files import write_json


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m continual.bench", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="a rough, short run: a smaller sample, fewer strategies, no default run")
    p.add_argument("--out", default="results/bench", help="folder for bench.json")
    p.add_argument("--model", default=None, help="Hugging Face name or local folder (default: packaged MiniLM)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="autocast precision of the encoder")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="device")
    p.add_argument("--batch-size", type=int, default=32, help="training batch size")
    p.add_argument("--eval-batch-size", type=int, default=256, help="evaluation batch size")
    p.add_argument("--train-per-class", type=int, default=None, help="stream sample: training texts per class")
    p.add_argument("--strategies", default=None, help="comma-separated strategies for (d); default depends on --quick")
    p.add_argument("--no-default-run", action="store_true", help="leave out (g), the peak memory of a default run (--quick always does)")
    p.add_argument("--ray-overhead", action="store_true",
                   help="only Ray's start-up and per-task overhead, then the default 8-strategy comparison one after "
                   "another and with --jobs 2 (outside the default benchmark: about twice that command's time)")
    return p


def settings_from_args(args: argparse.Namespace) -> BenchSettings:
    """The parsed flags as the library's settings (a UserError for bad values)."""
    return BenchSettings(model=args.model, precision=args.precision, device=args.device,
                         batch_size=args.batch_size, eval_batch_size=args.eval_batch_size, quick=args.quick,
                         train_per_class=args.train_per_class,
                         strategies=args.strategies.split(",") if args.strategies else None,
                         default_run=not args.no_default_run)


def main(argv: Optional[Sequence[str]] = None) -> int:
    quiet_library_warnings()

    def body() -> int:
        args = build_parser().parse_args(argv)
        settings = settings_from_args(args)
        out = Path(args.out)
        if args.ray_overhead:
            from .speed.ray_timing import format_ray, ray_overhead, time_comparison

            results = {"ray": {"overhead": ray_overhead(), "comparison": time_comparison()}}
            write_json(out / "bench_ray.json", results)
            print("\n".join(format_ray(results)).strip())
            print(f"\nwrote {out / 'bench_ray.json'}", file=sys.stderr)
            return 0
        results = run_bench(settings)
        write_json(out / "bench.json", results)
        print(format_table(results))
        print(f"\nwrote {out / 'bench.json'}", file=sys.stderr)
        return 0

    return exit_code(body)


if __name__ == "__main__":
    sys.exit(main())
