#!/bin/sh
# cleave-sim plan: plans on the PP-OCR models checked by an independent reader of the JSON (check_plan.js), the
# uplink presets, and clear errors with distinct exit codes for bad input.
# usage: test_cleave_sim.sh BIN_DIR SOURCE_DIR
set -u
BIN=$1
SRC=$2
SIM="$BIN/cleave-sim"
P="$SRC/partitioner/profiles"
MODELS=${CLEAVE_MODELS:-$SRC/models}
CLS="$MODELS/ch_ppocr_mobile_v2.0_cls_infer.onnx"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0

# expect CODE PATTERN CMD...: exit code and a phrase of stderr
expect() {
  code=$1
  pattern=$2
  shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"
  got=$?
  if [ "$got" -ne "$code" ] || ! grep -q -- "$pattern" "$TMP/err"; then
    echo "FAIL: $* -> exit $got (want $code), stderr:"
    cat "$TMP/err"
    fail=1
  fi
}

expect 2 "unknown subcommand" "$SIM" nosuch
expect 2 "needs exactly one MODEL" "$SIM" plan --device-profile "$P/pixel7-cpu.json"
expect 2 "at least one --device-profile" "$SIM" plan "$CLS"
expect 2 "not a number" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$P/pixel7-cpu.json" --uplink-mbps fast
expect 2 "not a number" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$P/pixel7-cpu.json" --rtt-ms -3
expect 2 "unknown --mode" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$P/pixel7-cpu.json" --mode sometimes
expect 2 "unknown --link 'lora'" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$P/pixel7-cpu.json" --link 3g,lora
expect 2 "not a number > 0" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$P/pixel7-cpu.json" --uplink-mbps 1,0
expect 2 "one --uplink-mbps or --link" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$P/pixel7-cpu.json" --uplink-mbps 1 --link 3g
expect 2 "unknown --radio" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$P/pixel7-cpu.json" --radio carrier-pigeon
expect 2 "pass it with --edge-profile" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$P/edge-a10.json"
expect 2 "not an edge profile" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$P/pixel7-cpu.json" --edge-profile "$P/pixel7-gpu.json"

# malformed profiles: the message names the file and the key or position
printf '{"name": "x", "kind": "cpu", "gflops": {"conv": 1}, ' >"$TMP/trunc.json"
expect 2 "malformed JSON at line 1" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$TMP/trunc.json"
printf '{"name": "x", "kind": "tpu", "gflops": {"conv": 1}, "mem_gbps": 1, "active_w": 1}' >"$TMP/kind.json"
expect 2 "'kind' must be one of" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$TMP/kind.json"
printf '{"name": "x", "kind": "cpu", "gflops": {"conv": 1}, "active_w": 1}' >"$TMP/nobw.json"
expect 2 "'mem_gbps' is missing" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$TMP/nobw.json"
printf '{"name": "x", "kind": "cpu", "gflops": {"matmul": 1}, "mem_gbps": 1, "active_w": 1}' >"$TMP/cls.json"
expect 2 "unknown op class 'matmul'" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$TMP/cls.json"
printf '{"name": "x", "kind": "cpu", "gflops": {"conv": -1}, "mem_gbps": 1, "active_w": 1}' >"$TMP/neg.json"
expect 2 "gflops.conv' must be a finite number" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$TMP/neg.json"
expect 1 "cannot open" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$TMP/missing.json"

if [ ! -f "$CLS" ]; then
  echo "cls model not found: skipping the model cases"
  exit $fail
fi

# infeasible constraint sets name the constraint
expect 3 "mode ONLY_LOCAL forbids the edge" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$P/pixel7-npu.json" \
  --edge-profile "$P/edge-a10.json" --mode only-local
expect 3 "privacy pin on tensor 'x'" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$P/pixel7-cpu.json" \
  --edge-profile "$P/edge-a10.json" --mode only-edge
expect 3 "no edge device" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$P/pixel7-cpu.json" --mode only-edge
expect 2 "no tensor named 'nosuch'" "$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$P/pixel7-cpu.json" --pin nosuch
expect 2 "has rank 4; 3 dims given" "$SIM" plan "$CLS" --device-profile "$P/pixel7-cpu.json" --shape x=1x3x48
expect 2 "give --shape x=" "$SIM" plan "$CLS" --device-profile "$P/pixel7-cpu.json"

# plans, each read back by check_plan.js: assignment, segments and bytes agree with the graph, the segment DAG is
# acyclic, the chosen plan beats every candidate, and (latency alone weighed) all-local and all-edge
command -v node >/dev/null || { echo "FAIL: node is missing (scripts/setup-deps.sh installs it)"; exit 1; }
CHECK="node $SRC/tests/partitioner/check_plan.js"
plan_ok() { # plan_ok NAME CHECK_ARGS -- CLEAVE_SIM_ARGS...
  name=$1
  shift
  cargs=
  while [ "$1" != -- ]; do cargs="$cargs $1"; shift; done
  shift
  if ! "$SIM" plan "$@" >"$TMP/plan.json" 2>"$TMP/err"; then
    echo "FAIL: $name: cleave-sim plan failed"; cat "$TMP/err"; fail=1
  elif ! $CHECK "$TMP/plan.json" $cargs >"$TMP/check" 2>&1; then
    echo "FAIL: $name:"; cat "$TMP/check"; fail=1
  else
    echo "ok: $name: $(cat "$TMP/check")"
  fi
}
plan_ok "cls, one uplink" -- "$CLS" --shape x=1x3x48x192 --device-profile "$P/pixel7-cpu.json" \
  --edge-profile "$P/edge-a10.json" --uplink-mbps 18.88 --allow-input-offload
for key in '"nodes"' '"tensors"' '"assignment"' '"segments"' '"objective"' '"cost_ms"' '"consumers"' \
  '"latency_ms"' '"candidates"'; do
  grep -q "$key" "$TMP/plan.json" || { echo "FAIL: plan JSON lacks $key"; fail=1; }
done
plan_ok "cls, CPU+GPU+NPU+edge (k-way) at three uplinks" -- "$CLS" --shape x=1x3x48x192 \
  --device-profile "$P/pixel7-cpu.json" --device-profile "$P/pixel7-gpu.json" --device-profile "$P/pixel7-npu.json" \
  --edge-profile "$P/edge-a10.json" --uplink-mbps 1,20,100 --allow-input-offload
DET="$MODELS/ch_PP-OCRv4_det_infer.onnx"
REC="$MODELS/ch_PP-OCRv4_rec_infer.onnx"
# det on a phone CPU at each uplink preset: never slower than all-local or all-edge
plan_ok "det, phone CPU + edge GPU, presets" -- "$DET" --shape x=1x3x640x640 --device-profile "$P/pixel7-cpu.json" \
  --edge-profile "$P/edge-a10.json" --link cat1,3g,4g,wifi --allow-input-offload
# rec on a low-end phone: local on CAT1, a device/edge cut on Wi-Fi
plan_ok "rec, low-end CPU + edge GPU, presets" --differ --local-at 0 --edge-at 3 -- "$REC" --shape x=1x3x48x320 \
  --device-profile "$P/lowend-cpu.json" --edge-profile "$P/edge-a10.json" --link cat1,3g,4g,wifi --allow-input-offload
# every shipped profile loads and plans beside a phone CPU (an NPU alone cannot run every op)
for prof in "$P"/*.json; do
  if grep -q '"kind": *"edge"' "$prof"; then set -- --device-profile "$P/pixel7-cpu.json" --edge-profile "$prof"
  else set -- --device-profile "$P/pixel7-cpu.json" --device-profile "$prof"; fi
  "$SIM" plan "$CLS" --shape x=1x3x48x192 "$@" >/dev/null 2>"$TMP/err" || { echo "FAIL: profile $prof"; cat "$TMP/err"; fail=1; }
done
# --this-host: a gpu profile bound to this host's gpu device; without a Vulkan driver the plan routes around it
# and says why, with one (lavapipe here) the device is a candidate (lavapipe's own leaks: tests/local/lavapipe.supp)
export LSAN_OPTIONS="suppressions=$SRC/tests/local/lavapipe.supp"
VK_ICD_FILENAMES=/nonexistent/none.json VK_DRIVER_FILES=/nonexistent/none.json "$SIM" plan "$CLS" --shape x=1x3x48x192 \
  --device-profile "$P/this-machine-cpu.json" --device-profile "$P/h200-vulkan.json" --this-host --table \
  >"$TMP/host.txt" 2>"$TMP/err" || { echo "FAIL: --this-host without a driver"; cat "$TMP/err"; fail=1; }
grep -q "plan 'local:this-machine-cpu'" "$TMP/host.txt" &&
  grep -q "infeasible: device 'h200-vulkan' is not available: gpu device" "$TMP/host.txt" ||
  { echo "FAIL: --this-host without a driver did not route around the gpu"; cat "$TMP/host.txt"; fail=1; }
"$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$P/this-machine-cpu.json" --device-profile "$P/h200-vulkan.json" \
  --this-host --table >"$TMP/host.txt" 2>"$TMP/err" || { echo "FAIL: --this-host"; cat "$TMP/err"; fail=1; }
grep -E "^local:h200-vulkan" "$TMP/host.txt" | grep -q infeasible &&
  { echo "FAIL: --this-host with a driver ruled the gpu out"; cat "$TMP/host.txt"; fail=1; }
unset LSAN_OPTIONS
# the summary table, and all-edge when the mode says so
"$SIM" plan "$CLS" --shape x=1x3x48x192 --device-profile "$P/pixel7-cpu.json" --edge-profile "$P/edge-a10.json" --mode only-edge \
  --allow-input-offload --table >"$TMP/edge.txt" 2>"$TMP/err" || { echo "FAIL: only-edge"; cat "$TMP/err"; fail=1; }
grep -q "plan 'edge'" "$TMP/edge.txt" || { echo "FAIL: only-edge did not choose the edge"; cat "$TMP/edge.txt"; fail=1; }
"$SIM" plan "$REC" --shape x=1x3x48x320 --device-profile "$P/lowend-cpu.json" --edge-profile "$P/edge-a10.json" \
  --link cat1,wifi --allow-input-offload --table >"$TMP/rows.txt" 2>"$TMP/err" || { echo "FAIL: table rows"; cat "$TMP/err"; fail=1; }
grep -q "18.88 wifi  cut:lowend-cpu|edge" "$TMP/rows.txt" || { echo "FAIL: the Wi-Fi row"; cat "$TMP/rows.txt"; fail=1; }
exit $fail
