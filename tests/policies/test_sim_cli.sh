#!/bin/sh
# cleave-sim run's command line: exit codes and messages for bad input, and a short run with JSON and HTML.
# Usage: test_sim_cli.sh BIN_DIR SOURCE_DIR
set -u
bin=$1/cleave-sim
src=$2
fix=$src/tests/policies/fixtures/profiles
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0


expect() { # expect CODE NEEDLE -- ARGS...
  code=$1 needle=$2
  shift 3
  "$bin" run "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ "$rc" != "$code" ] || ! grep -q -- "$needle" "$tmp/err" "$tmp/out"; then
    echo "FAIL: cleave-sim run $* -> $rc (want $code, '$needle')"
    cat "$tmp/err"
    fail=1
  fi
}

expect 2 "exactly one MODEL" -- --device-profile "$fix/phone.json" --edge-profile "$fix/edge.json"
expect 2 "needs --device-profile" -- x.onnx
expect 2 "needs a --trace" -- x.onnx --device-profile "$fix/phone.json" --edge-profile "$fix/edge.json"
expect 2 "exclude each other" -- x.onnx --device-profile "$fix/phone.json" --edge-profile "$fix/edge.json" \
  --trace "$src/policies/traces/commute.csv" --uplink-mbps 1 --downlink-mbps 1
expect 2 "not a number" -- x.onnx --device-profile a --edge-profile b --rate fast
expect 2 "unknown mode" -- x.onnx --device-profile a --edge-profile b --mode sometimes
expect 2 "unknown trace format" -- x.onnx --device-profile a --edge-profile b --trace-format xml
expect 0 "usage: cleave-sim run" -- --help
printf '0,1,1,10\n1,1,x,10\n' >"$tmp/bad.csv"
expect 1 "bad.csv:2:" -- x.onnx --device-profile "$fix/phone.json" --edge-profile "$fix/edge.json" --trace "$tmp/bad.csv"
printf '{"name": "x", "kind": "cpu"}' >"$tmp/bad.json"
expect 1 "gflops" -- x.onnx --device-profile "$tmp/bad.json" --edge-profile "$fix/edge.json" --trace "$tmp/bad.csv"
expect 2 "is not of kind edge" -- x.onnx --device-profile "$fix/phone.json" --edge-profile "$fix/phone.json" \
  --trace "$src/policies/traces/offline.csv"
printf '1\n0.5\n' >"$tmp/arr.txt"
expect 2 "arr.txt:2:" -- x.onnx --device-profile "$fix/phone.json" --edge-profile "$fix/edge.json" \
  --trace "$src/policies/traces/offline.csv" --arrivals "$tmp/arr.txt"

models=${CLEAVE_MODELS:-$src/models}
if [ -f "$models/ch_ppocr_mobile_v2.0_cls_infer.onnx" ]; then
  model=$models/ch_ppocr_mobile_v2.0_cls_infer.onnx
  expect 2 "give --shape x=" -- "$model" --device-profile "$fix/phone.json" --edge-profile "$fix/edge.json" \
    --trace "$src/policies/traces/offline.csv"
  expect 0 "best static split" -- "$model" --shape x=1x3x48x192 --device-profile "$fix/phone.json" \
    --edge-profile "$fix/edge.json" --trace "$src/policies/traces/offline.csv" --rate 2 --no-progress \
    --json "$tmp/r.json" --html "$tmp/r.html"
  grep -q '"oracle"' "$tmp/r.json" || { echo "FAIL: no oracle in the JSON"; fail=1; }
  grep -q '<svg' "$tmp/r.html" || { echo "FAIL: no plot in the HTML"; fail=1; }
  for p in auto all-local all-edge best-static oracle; do
    grep -q "^$p " "$tmp/out" || { echo "FAIL: no row for $p"; fail=1; }
  done
else
  echo "models not found: the full run is skipped"
fi
exit $fail
