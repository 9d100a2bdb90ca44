#!/usr/bin/env bash
# A 4-strategy x 3-seed comparison on the default stream, then the comparison table and plots.
# Seed 0 of each strategy is the run of make_icd10cm_chapters.sh (same command, same numbers).
set -euo pipefail
cd "$(dirname "$0")/../.."
for seed in 1 2; do
  for strategy in naive replay lwf expanding-heads; do
    python -m continual.run --strategy "$strategy" --seed "$seed" --out results/reference --no-progress
  done
done
# the comparison reads only these four strategies' folders (seeds 0, 1, 2 of each)
python -m continual.compare results/reference/icd10cm-chapters/{naive,replay,lwf,expanding-heads} \
  --out results/reference/comparison
