#!/usr/bin/env bash
# tests/remote: load on cleave-gateway's infer endpoint: h2load (nghttp2-client) sends 20000 binary-extension
# infer requests for PP-OCR cls over 16 connections with 8 streams each; every one must succeed with 200, within a
# time bound. Prints h2load's throughput and latency lines.
# Usage: test_gateway_load.sh BIN_DIR   (models from $CLEAVE_MODELS)
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 BIN_DIR" >&2
  exit 2
fi
bin="$1/cleave-gateway"
tool="$1/gw_tool"
# shellcheck source=gw_lib.sh
. "$(dirname "$0")/gw_lib.sh"
need_cls_model
need h2load nghttp2-client
[ "$missing" -eq 0 ] || exit 1
make_certs
mkdir -p "$tmp/models/cls/1"
cp "$cls_onnx" "$tmp/models/cls/1/model.onnx"
# the queue holds every stream h2load keeps open (16 x 8), so none is turned away
printf 'models = %s\nqueue_length = 256\n' "$tmp/models" >"$tmp/gw.conf"
start_gateway --config "$tmp/gw.conf"
hlen=$("$tool" body "$tmp/req" --name x --shape 1x3x48x192 --seed 3 --binary --binary-out)
rc=0
timeout 600 h2load -n 20000 -c 16 -m 8 -H "inference-header-content-length: $hlen" -d "$tmp/req" \
  "https://127.0.0.1:$port/v2/models/cls/infer" >"$tmp/h2load.out" 2>&1 || rc=$?
grep -E '^(finished in|requests:|status codes:|traffic:|time for request:)' -A0 "$tmp/h2load.out" || true
grep -A1 -E '^ +min +max' "$tmp/h2load.out" | tail -n 1 || true
req_line=$(grep '^requests:' "$tmp/h2load.out" || true)
codes=$(grep '^status codes:' "$tmp/h2load.out" || true)
if [ "$rc" -eq 0 ] && [[ $req_line =~ 20000\ succeeded,\ 0\ failed,\ 0\ errored,\ 0\ timeout ]] &&
  [[ $codes =~ ^status\ codes:\ 20000\ 2xx ]]; then
  pass "h2load -n 20000 -c 16 -m 8 on infer: 0 failed"
else
  fail "h2load -n 20000 -c 16 -m 8 on infer" "exit $rc; $req_line; $codes"
fi
stop_gateway "exit 0 on SIGTERM after the load"
no_sanitizer_reports
finish
