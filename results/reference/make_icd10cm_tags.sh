#!/usr/bin/env bash
# Reference results on the built-in tagging stream (continual disease tagging): naive, replay,
# LwF (ExtendNER's distillation of the old tags) and EWC at their defaults, seeds 0, 1 and 2,
# then the comparison. The stream's contexts are synthetic templates around real ICD-10-CM
# terms: the numbers show the mechanics of continual tagging, not the difficulty of real notes.
# EWC takes the lambda validated on this stream (results/reference/tuning/icd10cm-tags/ewc/ and
# ewc-fine/: 1e4 among 1e3..1e6): a tagger's Fisher sums the log-likelihood of every tagged word
# of a sentence, so the default validated on single-label icd10cm-chapters (1e6) stops it learning.
# Its Fisher sample, validated at that lambda on this stream too (tuning/ewc-samples/icd10cm-tags/:
# 128 by the one-standard-error rule; 512 reads all of a tuning experience's 496-499 texts), is the
# default, 128.
# Two runs at a time with one thread each; resumable.
set -euo pipefail
cd "$(dirname "$0")/../.."
STRATEGIES=naive,replay,lwf,ewc
python -m continual.run --stream icd10cm-tags --strategy "$STRATEGIES" --seed 0,1,2 --out results/reference \
  --no-progress --jobs 2 --cpus-per-run 1 --resume \
  --set ewc.lambda=10000
IFS=, read -ra names <<< "$STRATEGIES"
python -m continual.compare "${names[@]/#/results/reference/icd10cm-tags/}" --out results/reference/comparison-tags
