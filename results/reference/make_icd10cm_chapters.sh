#!/usr/bin/env bash
# Reference results on the default stream: every strategy that supports the class scenario, at its
# validated (or paper) defaults, seeds 0, 1 and 2, then the comparison table and plots. Two runs
# at a time, one thread each, so that the timings compare with each other only (the benchmark
# measures speed). Resumable: rerun it after an interruption and finished runs are kept.
set -euo pipefail
cd "$(dirname "$0")/../.."
STRATEGIES=naive,replay,ewc,lwf,der,si,mas,online-ewc,expanding-heads,seq-star,frozen,lora,zero-shot,joint,cumulative,agem,icarl,gem,bitfit,adapters,ia3,o-lora,prompt-tuning,prefix-tuning
python -m continual.run --strategy "$STRATEGIES" --seed 0,1,2 --out results/reference --no-progress \
  --jobs 2 --cpus-per-run 1 --resume
IFS=, read -ra names <<< "$STRATEGIES"
python -m continual.compare "${names[@]/#/results/reference/icd10cm-chapters/}" --out results/reference/comparison
