#!/usr/bin/env bash
# Throughput of every attribution method on each GPU of this machine, through both GPU backends:
# CUDA (`cuda:N`) and wgpu (`wgpu:N`, Vulkan). Prints a Markdown table for BENCHMARKS.md: inputs/s,
# GFLOP/s, and the device's peak memory while the method ran (nvidia-smi, sampled every 50 ms;
# it includes the CUDA context and the allocator's pools, so read it as an upper bound).
#
#   scripts/gpu-bench.sh                       # every NVIDIA GPU, both backends
#   FIXTURE=../shared/fixtures/perf_lenet.json STEPS=50 scripts/gpu-bench.sh
#   DEVICES=flex scripts/gpu-bench.sh          # a dry run on the CPU (no GPU memory column)
#
# Never part of the tests: CI only checks that the cuda build compiles.
set -euo pipefail
cd "$(dirname "$0")/.."
FIXTURE="${FIXTURE:-assets/fixtures/image_cnn.json}"
STEPS="${STEPS:-50}"
MIN_SECONDS="${MIN_SECONDS:-2}"

if [ -z "${DEVICES:-}" ]; then
  command -v nvidia-smi >/dev/null || { echo "no nvidia-smi: this machine has no NVIDIA GPU (set DEVICES=flex for a dry run)" >&2; exit 2; }
  gpus=$(nvidia-smi --query-gpu=index --format=csv,noheader | tr -d ' ')
  DEVICES=$(for i in $gpus; do printf 'cuda:%s wgpu:%s ' "$i" "$i"; done)
  FEATURES="xai-cli/cuda,xai-cli/wgpu"
else
  DEVICES=${DEVICES//,/ }
  FEATURES="${FEATURES:-}"
fi

cargo build --release -q -p xai-cli ${FEATURES:+--features "$FEATURES"}
XAI="${CARGO_TARGET_DIR:-target}/release/xai"
methods=$("$XAI" methods | awk '/^[a-z]/ {print $1}' | grep -v '^tree_shap')

# Peak memory.used (MiB) of GPU $1 while the command after it runs.
peak_memory() {
  local gpu=$1; shift
  if ! command -v nvidia-smi >/dev/null || [ -z "$gpu" ]; then
    local rc=0; "$@" || rc=$?; echo "—" >&3; return $rc
  fi
  local log; log=$(mktemp)
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$gpu" -lms 50 >"$log" &
  local sampler=$!
  local rc=0; "$@" || rc=$?
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  sort -n "$log" | tail -1 >&3; rm -f "$log"
  return $rc
}

echo "Fixture: $FIXTURE, $STEPS steps, $(date -u +%F)"
for dev in $DEVICES; do
  gpu=""; case "$dev" in cuda:*|wgpu:*) gpu=${dev#*:};; esac
  [ -n "$gpu" ] && echo && echo "GPU $gpu: $(nvidia-smi --query-gpu=name --format=csv,noheader -i "$gpu")"
  echo
  echo "| method | device | inputs/s | GFLOP/s | peak device MiB |"
  echo "|---|---|---:|---:|---:|"
  for m in $methods; do
    exec 3>"${TMPDIR:-/tmp}/xai-gpu-peak"
    if out=$(peak_memory "$gpu" "$XAI" bench --fixture "$FIXTURE" --method "$m" --steps "$STEPS" \
               --device "$dev" --min-seconds "$MIN_SECONDS" --json 2>/dev/null); then
      peak=$(cat "${TMPDIR:-/tmp}/xai-gpu-peak")
      python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("| %s | %s | %.1f | %.2f | %s |" % (r["method"], sys.argv[2], r["inputs_per_second"], r["gflops"], sys.argv[3]))' "$out" "$dev" "$peak"
    else
      echo "| $m | $dev | does not run on this model or device | | |"
    fi
    exec 3>&-
  done
done
