#!/usr/bin/env bash
# naive and replay at defaults, seed 0, on the two other built-in streams (task and domain).
set -euo pipefail
cd "$(dirname "$0")/../.."
for stream in icd10cm-blocks icd10cm-views; do
  for strategy in naive replay; do
    python -m continual.run --stream "$stream" --strategy "$strategy" --seed 0 --out results/reference --no-progress
  done
done
