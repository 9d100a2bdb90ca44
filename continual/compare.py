"""``python -m continual.compare DIR``: compare strategies across saved runs.

The command line over :func:`continual.report.comparison.compare`: parse, call, print the
terminal table. ``results/reference/`` (the curated reference runs) is skipped unless named
directly; ``--metric-variant`` adds columns for published definitions of forgetting and BWT that
differ from ours (docs/design.md, Results and Metrics).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from .errors import ArgumentParser, exit_code
from .report.comparison import compare
from .report.render import to_terminal
from .report.tables import table_columns

__all__ = ["build_parser", "compare", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m continual.compare",
                       description="Compare continual-learning strategies across saved runs: tables "
                       "(markdown, CSV, LaTeX) and plots from every metrics.json under DIR.")
    p.add_argument("dirs", nargs="+", metavar="DIR",
                   help="results folder(s) to read recursively; a 'reference' folder inside is "
                   "skipped unless named directly")
    p.add_argument("--out", default=None, help="folder for the tables and plots (default: DIR)")
    p.add_argument("--metric-variant", action="store_true",
                   help="add columns for other published definitions of forgetting (Avalanche) "
                   "and BWT (Díaz-Rodríguez et al. 2018)")
    p.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="only runs with this setting or field (strategy=ewc, model.model=Bio_ClinicalBERT, "
                   "ewc.lambda=10000, seed=0); repeatable, all must hold")
    p.add_argument("--group-by", default=None, metavar="KEY[,KEY...]",
                   help="rows differ only in these settings (e.g. model.model); runs that differ in "
                   "others are pooled (default: every setting that changes results)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    def body() -> int:
        args = build_parser().parse_args(argv)
        group_by = [k.strip() for k in args.group_by.split(",") if k.strip()] if args.group_by else None
        table = compare(args.dirs, args.out, args.metric_variant, filters=args.filter, group_by=group_by)
        print(to_terminal(table, table_columns(args.metric_variant)))
        out = Path(args.out) if args.out else Path(args.dirs[0])
        print(f"wrote comparison.md, comparison.csv, comparison.tex, runs.csv and the plots into {out}", file=sys.stderr)
        return 0

    return exit_code(body)


if __name__ == "__main__":
    sys.exit(main())
