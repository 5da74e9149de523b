#!/bin/bash
# Run a sharded EK-FAC influence job on Kubernetes: plan, then per stage an Indexed Job of
# SHARDS pods and a reduce Job, each waited for before the next (Jobs have no dependencies).
# Usage: IMAGE=registry.example.com/xai:0.1 SHARDS=8 RUN=digits deploy/k8s/run-influence.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export IMAGE="${IMAGE:?set IMAGE to an image holding the xai binary (deploy/Dockerfile)}"
export SHARDS="${SHARDS:-8}" RUN="${RUN:-digits-influence}"
# ${VAR} placeholders in the manifests, filled from the environment.
fill() { sed -e "s|\${IMAGE}|$IMAGE|g" -e "s|\${SHARDS}|$SHARDS|g" -e "s|\${RUN}|$RUN|g" \
             -e "s|\${STAGE}|${STAGE:-}|g" "$1"; }
apply_and_wait() {
  local name; name=$(fill "$1" | kubectl apply -f - -o name)
  kubectl wait --for=condition=complete --timeout=2h "$name"
}
kubectl apply -f "$here/pvc.yaml"
apply_and_wait "$here/influence-plan.yaml"
for STAGE in factors eigenvalues scores; do
  export STAGE
  apply_and_wait "$here/influence-map.yaml"
  apply_and_wait "$here/influence-reduce.yaml"
done
echo "merged scores: /runs/$RUN/scores/reduced.safetensors on the xai-runs volume"
