#!/usr/bin/env bash
# The task- and domain-incremental built-in streams: naive, joint, EWC, replay, DER++ and LwF at
# their defaults (DER++ on the domain stream only: its logit targets assume one shared head, so
# it declares no task scenario), and on the task stream the per-task parameter-efficient modules
# (one module and head per task, chosen by the task id), seeds 0, 1 and 2, then a comparison per
# stream. Two runs at a time, one thread each (timings compare with each other only). Resumable:
# rerun it after an interruption and finished runs are kept.
set -euo pipefail
cd "$(dirname "$0")/../.."
declare -A STRATEGIES=([icd10cm-blocks]=naive,joint,ewc,replay,lwf,lora-per-task,bitfit-per-task,adapters-per-task,ia3-per-task,prompt-tuning-per-task,prefix-tuning-per-task [icd10cm-views]=naive,joint,ewc,replay,der,lwf)
for stream in icd10cm-blocks icd10cm-views; do
  python -m continual.run --stream "$stream" --strategy "${STRATEGIES[$stream]}" --seed 0,1,2 \
    --out results/reference --no-progress --jobs 2 --cpus-per-run 1 --resume
  IFS=, read -ra names <<< "${STRATEGIES[$stream]}"
  python -m continual.compare "${names[@]/#/results/reference/$stream/}" --out "results/reference/comparison-$stream"
done
