#!/usr/bin/env bash
# Reference results on the built-in tagging stream (continual disease tagging): naive, replay,
# LwF (ExtendNER's distillation of the old tags) and EWC at their defaults, seeds 0, 1 and 2,
# then the comparison. The stream's contexts are synthetic templates around real ICD-10-CM
# terms: the numbers show the mechanics of continual tagging, not the difficulty of real notes.
# Two runs at a time with one thread each, as make_icd10cm_chapters.sh; resumable.
set -euo pipefail
cd "$(dirname "$0")/../.."
STRATEGIES=naive,replay,lwf,ewc
python -m continual.run --stream icd10cm-tags --strategy "$STRATEGIES" --seed 0,1,2 --out results/reference \
  --no-progress --jobs 2 --cpus-per-run 1 --resume
IFS=, read -ra names <<< "$STRATEGIES"
python -m continual.compare "${names[@]/#/results/reference/icd10cm-tags/}" --out results/reference/comparison-tags
