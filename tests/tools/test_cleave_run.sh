#!/usr/bin/env bash
# tests/tools: cleave-run's command line: usage errors exit 2, a model runs, --json and --save-outputs work.
# Usage: test_cleave_run.sh BIN_DIR
set -u
bin="$1/cleave-run"
node=/usr/share/libonnx-testdata/data/node
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0

check() { # name, expected exit code, command...
  local name=$1 want=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" -eq "$want" ]; then passes=$((passes + 1)); else
    fails=$((fails + 1)); echo "FAIL $name: exit $got, want $want"; cat "$tmp/err"; fi
}
expect_in() { # name, file, text
  if grep -q -- "$3" "$2"; then passes=$((passes + 1)); else
    fails=$((fails + 1)); echo "FAIL $1: '$3' not in output"; cat "$2"; fi
}

check "no model" 2 "$bin"
expect_in "usage on no model" "$tmp/err" "usage: cleave-run"
check "unknown option" 2 "$bin" "$node/test_relu/model.onnx" --frobnicate
check "bad repeat" 2 "$bin" "$node/test_relu/model.onnx" --repeat 0
check "bad input spec" 2 "$bin" "$node/test_relu/model.onnx" --input nonsense
check "two models" 2 "$bin" a.onnx b.onnx
check "input not given" 2 "$bin" "$node/test_relu/model.onnx"
expect_in "hint for inputs" "$tmp/err" "random-inputs"
check "unknown input name" 2 "$bin" "$node/test_relu/model.onnx" --input nope=x.npy
check "missing model file" 1 "$bin" "$tmp/none.onnx" --random-inputs 1
expect_in "names the file" "$tmp/err" "none.onnx"
check "unknown device" 1 "$bin" "$node/test_relu/model.onnx" --random-inputs 1 --device quantum
expect_in "names the device" "$tmp/err" "quantum"

check "runs with json" 0 "$bin" "$node/test_relu/model.onnx" --random-inputs 7 --repeat 3 --json --save-outputs "$tmp/o"
expect_in "json p50" "$tmp/out" '"p50_ms"'
expect_in "json shape" "$tmp/out" '"shape"'
if [ -s "$tmp/o/y.npy" ]; then passes=$((passes + 1)); else fails=$((fails + 1)); echo "FAIL save-outputs: no y.npy"; fi
# round trip: the saved output fed back as input gives relu(relu(x)) == relu(x)
check "npy input" 0 "$bin" "$node/test_relu/model.onnx" --input "x=$tmp/o/y.npy" --save-outputs "$tmp/o2"
if cmp -s "$tmp/o/y.npy" "$tmp/o2/y.npy"; then passes=$((passes + 1)); else fails=$((fails + 1)); echo "FAIL npy round trip"; fi
check "print graph" 0 "$bin" "$node/test_relu/model.onnx" --print-graph
expect_in "graph line" "$tmp/out" "Relu"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
