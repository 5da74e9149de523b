#!/bin/bash
# Submit sharded attributions: an array job over the input rows, then the reduce job.
# Usage: RUN_DIR=/shared/run SHARDS=16 MODEL=m.onnx INPUTS=x.npy METHODS=integrated_gradients \
#        XAI=/shared/bin/xai deploy/slurm/submit-explain.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export RUN_DIR="${RUN_DIR:?}" SHARDS="${SHARDS:-8}" MODEL="${MODEL:?}" INPUTS="${INPUTS:?}"
job=$(sbatch --parsable --array="0-$((SHARDS - 1))" "$here/explain.sbatch" map)
job=$(sbatch --parsable --dependency="afterok:$job" "$here/explain.sbatch" reduce)
echo "submitted; the merged attributions appear in $RUN_DIR/attributions/reduced.safetensors (job $job)"
