#!/bin/bash
# Submit a whole sharded EK-FAC influence run as dependent SLURM jobs:
#   plan → map factors (array) → reduce factors → map eigenvalues → … → reduce scores.
# Usage: RUN_DIR=/shared/xai-run SHARDS=8 XAI=/shared/bin/xai deploy/slurm/submit-influence.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export RUN_DIR="${RUN_DIR:?set RUN_DIR to a folder on shared storage}" SHARDS="${SHARDS:-8}"
job=$(sbatch --parsable "$here/influence.sbatch" plan)
for stage in factors eigenvalues scores; do
  job=$(sbatch --parsable --dependency="afterok:$job" --array="0-$((SHARDS - 1))" \
        "$here/influence.sbatch" map "$stage")
  job=$(sbatch --parsable --dependency="afterok:$job" "$here/influence.sbatch" reduce "$stage")
done
echo "submitted; the merged scores appear in $RUN_DIR/scores/reduced.safetensors (job $job)"
