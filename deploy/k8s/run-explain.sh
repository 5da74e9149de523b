#!/bin/bash
# Sharded attributions on Kubernetes: an Indexed Job over the input rows, then the reduce Job.
# MODEL and INPUTS are paths inside the pods (e.g. on the xai-runs volume, under /runs).
# Usage: IMAGE=… SHARDS=16 RUN=batch1 MODEL=/runs/m.onnx INPUTS=/runs/x.npy \
#        METHODS=integrated_gradients deploy/k8s/run-explain.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export IMAGE="${IMAGE:?}" SHARDS="${SHARDS:-8}" RUN="${RUN:?}" MODEL="${MODEL:?}" INPUTS="${INPUTS:?}"
export METHODS="${METHODS:-integrated_gradients,saliency}"
fill() { sed -e "s|\${IMAGE}|$IMAGE|g" -e "s|\${SHARDS}|$SHARDS|g" -e "s|\${RUN}|$RUN|g" \
             -e "s|\${MODEL}|$MODEL|g" -e "s|\${INPUTS}|$INPUTS|g" -e "s|\${METHODS}|$METHODS|g" "$1"; }
apply_and_wait() {
  local name; name=$(fill "$1" | kubectl apply -f - -o name)
  kubectl wait --for=condition=complete --timeout=4h "$name"
}
kubectl apply -f "$here/pvc.yaml"
apply_and_wait "$here/explain-map.yaml"
apply_and_wait "$here/explain-reduce.yaml"
echo "merged attributions: /runs/$RUN/attributions/reduced.safetensors on the xai-runs volume"
