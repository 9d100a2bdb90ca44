#!/usr/bin/env bash
# Reference results on the default stream: every strategy that supports the class scenario,
# seed 0, defaults, one process per strategy (so peak memory is each run's own). Run it alone on
# the machine: concurrent runs oversubscribe the cores and distort the timings.
set -euo pipefail
cd "$(dirname "$0")/../.."
for strategy in naive replay ewc lwf expanding-heads joint si mas online-ewc der agem gem icarl cumulative frozen lora zero-shot; do
  python -m continual.run --strategy "$strategy" --seed 0 --out results/reference --no-progress
done
# the summary table (seed 0 of every strategy; make_comparison.sh adds seeds 1 and 2 of four of them)
python -m continual.compare results/reference/icd10cm-chapters/*/seed-0 --out results/reference/icd10cm-chapters/summary
