"""``python -m continual.check RUN_DIR [RUN_DIR ...]``: check run folders against the results
contract (docs/design.md, Results and Metrics).

The command line over :func:`continual.state.contract.check_run`: one ``ok`` line per folder that
holds, one line per problem of a folder that does not. Exit 0 when every folder holds, 1 when
one does not, 2 on bad input (a path that is not a folder).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from .errors import ArgumentParser, UserError, exit_code
from .state.contract import check_run, summary_line

__all__ = ["build_parser", "check_run", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m continual.check",
                       description="Check run folders (OUT/<stream>/<strategy>/seed-<S>) against the results "
                       "contract: files, metrics.json keys and shapes, metrics recomputed from the matrix, "
                       "the CSV matrix, no input text.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="a run folder, the one holding metrics.json")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    def body() -> int:
        args = build_parser().parse_args(argv)
        folders = [Path(d) for d in args.run_dirs]
        for folder in folders:
            if not folder.is_dir():
                raise UserError(f"{folder} is not a folder: give run folders, e.g. results/<stream>/<strategy>/seed-0")
        failed = False
        for folder in folders:
            problems = check_run(folder)
            failed = failed or bool(problems)
            for problem in problems:
                print(f"{folder}: {problem}")
            if not problems:
                print(summary_line(folder))
        return 1 if failed else 0

    return exit_code(body)


if __name__ == "__main__":
    sys.exit(main())
