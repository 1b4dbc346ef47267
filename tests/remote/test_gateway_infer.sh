#!/usr/bin/env bash
# tests/remote: cleave-gateway's inference path driven by stock HTTP/2 clients over real TLS, on PP-OCR cls:
# JSON and binary-extension infer with curl and nghttp checked against ONNX Runtime's output, partial offload in
# two requests through an intermediate tensor, model metadata, bearer tokens, mTLS, uploads by sha256, every kind
# of bad input (each answered with its 4xx and a JSON error while the gateway keeps serving), a full queue
# answered 503 with Retry-After, /metrics, the access log, and a drain on SIGTERM that answers what is in flight;
# Server-Timing on infer answers, the published profile (measured, or from a file) that the planner accepts, and
# the bandwidth probe with its 4 MiB bound.
# Usage: test_gateway_infer.sh BIN_DIR SOURCE_DIR   (models from $CLEAVE_MODELS)
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BIN_DIR SOURCE_DIR" >&2
  exit 2
fi
bin="$1/cleave-gateway"
tool="$1/gw_tool"
sim="$1/cleave-sim"
src="$2"

# shellcheck source=gw_lib.sh
. "$(dirname "$0")/gw_lib.sh"
need_cls_model
need h2load nghttp2-client
[ "$missing" -eq 0 ] || exit 1
make_certs

expect="$src/tests/data/ppocr/cls_out0.npy"
out_name=softmax_0.tmp_0
mid_name=p2o.GlobalAveragePool.19 # an intermediate tensor of cls, [N,200,1,1]
mkdir -p "$tmp/models/cls/1"
cp "$cls_onnx" "$tmp/models/cls/1/model.onnx"
sha=$(sha256sum "$cls_onnx" | cut -d' ' -f1)
token=t0k-$RANDOM$RANDOM
cat >"$tmp/gw.conf" <<EOF
# the test's gateway: flags add the listen address and the certificate
models = $tmp/models
token = $token
max_concurrency = 2
queue_length = 64
max_request_bytes = 4000000
batch_window_ms = 5
max_batch = 8
access_log = $tmp/access.log
EOF
start_gateway --config "$tmp/gw.conf"
auth=(-H "authorization: Bearer $token")

# req NAME WANT_STATUS PATH [curl args...]: the status must match; body in $tmp/body, headers in $tmp/head.
req() {
  local name=$1 want=$2 path=$3 got rc=0
  shift 3
  got=$(curl_gw --http2 --cacert "$tmp/ca.pem" -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' "$@" \
    "https://localhost:$port$path" 2>"$tmp/err") || rc=$?
  if [ "$rc" -ne 0 ]; then
    fail "$name" "curl exit $rc: $(head -c 300 "$tmp/err")"
    return 1
  elif [ "$got" != "$want" ]; then
    fail "$name" "status $got, want $want: $(head -c 300 "$tmp/body")"
    return 1
  fi
  return 0
}
header() { tr -d '\r' <"${2:-$tmp/head}" | sed -n "s/^$1:[[:space:]]*//Ip" | head -n 1; }
# bad NAME STATUS BODY_PATTERN PATH [curl args...]: a JSON {"error": ...} naming the problem, then still serving.
bad() {
  local name=$1 want=$2 pattern=$3 path=$4
  shift 4
  if req "$name" "$want" "$path" "$@"; then
    local body
    body=$(cat "$tmp/body")
    if ! grep -qE '^\{"error":"([^"\\]|\\.)*"\}$' <<<"$body"; then
      fail "$name" "not a JSON error: $(head -c 300 <<<"$body")"
    elif ! grep -qiE "$pattern" <<<"$body"; then
      fail "$name" "error does not say /$pattern/: $body"
    else
      pass "$name -> $want $(head -c 140 <<<"$body")"
    fi
  fi
  cp "$tmp/head" "$tmp/bad.head"
  still_serving "$name"
}
infer_path=/v2/models/cls/infer

# 1. Metadata and auth.
req "GET /v2/models/cls" 200 /v2/models/cls "${auth[@]}" &&
  if grep -q "\"sha256\":\"$sha\"" "$tmp/body" && grep -q '"name":"x","datatype":"FP32","shape":\[-1,3,-1,-1\]' "$tmp/body"; then
    pass "model metadata: sha256, input x FP32 [-1,3,-1,-1]"
  else
    fail "model metadata" "$(head -c 400 "$tmp/body")"
  fi
for p in /v2/models/cls/ready /v2/models/cls/versions/1/ready "/v2/models/cls/versions/$sha/ready"; do
  req "GET $p" 200 "$p" "${auth[@]}" && pass "GET $p"
done
bad "no token" 401 'bearer token' /v2/models/cls
bad "wrong token" 401 'bearer token' /v2/models/cls -H "authorization: Bearer nope"
if [ "$(header www-authenticate "$tmp/bad.head")" = "Bearer" ]; then pass "401 carries WWW-Authenticate: Bearer"; else fail "401 carries WWW-Authenticate: Bearer" "$(cat "$tmp/head")"; fi
req "health needs no token" 200 /v2/health/ready && pass "health needs no token"

# 1b. The profile (measured at start: no profile in gw.conf) and the live load; the planner takes it as an edge.
if req "GET /v2/cleave/profile" 200 /v2/cleave/profile "${auth[@]}"; then
  if got=$("$tool" profile "$tmp/body" "$tmp/edge.json" 2>&1) && [[ $got =~ ^[^\ ]+\ edge\ 0\ 0\ [0-9.e+-]+\ 2$ ]]; then
    pass "profile parses as an edge profile, load queue 0, running 0, 2 executors ($got)"
  else
    fail "profile parses as an edge profile" "$got: $(head -c 300 "$tmp/body")"
  fi
  if grep -q '"backend":"cpu"' "$tmp/body" && grep -q 'Measured by cleave_calibrate' "$tmp/body"; then
    pass "the profile was measured on backend cpu"
  else
    fail "the profile was measured on backend cpu" "$(head -c 300 "$tmp/body")"
  fi
  if ls "$CLEAVE_CACHE_DIR"/profile-cpu-*t-*.json >/dev/null 2>&1; then
    pass "the measured profile is cached ($(basename "$CLEAVE_CACHE_DIR"/profile-cpu-*))"
  else
    fail "the measured profile is cached" "$(ls -la "$CLEAVE_CACHE_DIR" 2>&1)"
  fi
  if "$sim" plan "$cls_onnx" --shape x=1x3x48x192 --allow-input-offload \
    --device-profile "$src/partitioner/profiles/lowend-cpu.json" --edge-profile "$tmp/edge.json" >"$tmp/plan.json" \
    2>"$tmp/err" && grep -q '"edge"' "$tmp/plan.json"; then
    pass "cleave-sim plan --edge-profile takes the published profile"
  else
    fail "cleave-sim plan --edge-profile takes the published profile" "$(head -c 300 "$tmp/err")"
  fi
fi
bad "profile without a token" 401 'bearer token' /v2/cleave/profile
bad "profile by POST" 405 'GET' /v2/cleave/profile "${auth[@]}" --data x

# 1c. The probe: a body read and discarded, counted in the answer, with Server-Timing; 4 MiB at most, refused from
# Content-Length (curl sends one) and while receiving (a streamed upload without one).
head -c 262144 /dev/urandom >"$tmp/probe256k"
if req "probe of 256 KiB" 200 /v2/cleave/probe "${auth[@]}" --data-binary "@$tmp/probe256k"; then
  st=$(header server-timing)
  if [ "$(cat "$tmp/body")" = '{"bytes":262144}' ] && [[ $st =~ ^recv\;dur=[0-9.]+$ ]]; then
    pass "probe of 256 KiB answered {\"bytes\":262144}, server-timing '$st'"
  else
    fail "probe of 256 KiB" "body $(head -c 100 "$tmp/body"), server-timing '$st'"
  fi
fi
head -c 4194304 /dev/zero >"$tmp/probe4m"
req "probe of 4 MiB" 200 /v2/cleave/probe "${auth[@]}" --data-binary "@$tmp/probe4m" &&
  if [ "$(cat "$tmp/body")" = '{"bytes":4194304}' ]; then pass "probe of 4 MiB (the limit) answered"; else fail "probe of 4 MiB" "$(head -c 100 "$tmp/body")"; fi
head -c 4194305 /dev/zero >"$tmp/probe4m1"
bad "probe over 4 MiB (Content-Length)" 413 'limit' /v2/cleave/probe "${auth[@]}" --data-binary "@$tmp/probe4m1"
bad "probe over 4 MiB (streamed)" 413 'limit' /v2/cleave/probe "${auth[@]}" -X POST -T - <"$tmp/probe4m1"
# the downlink probe: ?down=N answers N bytes of filler; N beyond 4 MiB or not a number is the client's mistake
if req "downlink probe of 100000 bytes" 200 "/v2/cleave/probe?down=100000" "${auth[@]}" -X POST; then
  n=$(stat -c %s "$tmp/body")
  if [ "$n" = 100000 ] && [ "$(header content-type)" = application/octet-stream ]; then
    pass "downlink probe answered 100000 bytes of application/octet-stream"
  else
    fail "downlink probe" "$n bytes, content-type '$(header content-type)'"
  fi
fi
bad "downlink probe over 4 MiB" 400 'down=N' "/v2/cleave/probe?down=4194305" "${auth[@]}" -X POST
bad "downlink probe not a number" 400 'down=N' "/v2/cleave/probe?down=12k" "${auth[@]}" -X POST
bad "probe with another query" 400 'down=N' "/v2/cleave/probe?up=1" "${auth[@]}" -X POST
bad "probe without a token" 401 'bearer token' /v2/cleave/probe --data-binary "@$tmp/probe256k"
bad "probe by GET" 405 'POST' /v2/cleave/probe "${auth[@]}"

# 2. JSON infer with curl, against ONNX Runtime's output for the same input (seed 3).
"$tool" body "$tmp/json.req" --name x --shape 1x3x48x192 --seed 3 >/dev/null
if req "curl JSON infer" 200 "$infer_path" "${auth[@]}" -H 'content-type: application/json' \
  --data-binary "@$tmp/json.req"; then
  if d=$("$tool" check "$tmp/body" -1 "$out_name" "$expect" 1e-4 2>&1); then
    pass "curl JSON infer matches ONNX Runtime (max abs diff $d)"
  else
    fail "curl JSON infer matches ONNX Runtime" "$d"
  fi
  hint=$(header cleave-load)
  if [[ $hint =~ ^queue=[0-9]+\;\ running=[0-9]+\;\ wait-ms=[0-9.]+$ ]]; then pass "load hint '$hint'"; else fail "load hint header" "'$hint'"; fi
  st=$(header server-timing)
  if [[ $st =~ ^recv\;dur=[0-9]+\.[0-9]{3},\ queue\;dur=[0-9]+\.[0-9]{3},\ run\;dur=([0-9]+\.[0-9]{3})$ ]] &&
    [ "${BASH_REMATCH[1]}" != 0.000 ]; then
    pass "server-timing '$st'"
  else
    fail "server-timing header on the infer answer" "'$st'"
  fi
fi

# 3. Binary extension both ways with curl.
hlen=$("$tool" body "$tmp/bin.req" --name x --shape 1x3x48x192 --seed 3 --binary --binary-out)
if req "curl binary infer" 200 "$infer_path" "${auth[@]}" -H "inference-header-content-length: $hlen" \
  -H 'content-type: application/octet-stream' --data-binary "@$tmp/bin.req"; then
  rlen=$(header inference-header-content-length)
  if [ -z "$rlen" ]; then
    fail "binary response has Inference-Header-Content-Length" "$(cat "$tmp/head")"
  elif d=$("$tool" check "$tmp/body" "$rlen" "$out_name" "$expect" 1e-4 2>&1); then
    pass "curl binary infer matches ONNX Runtime (max abs diff $d, JSON header $rlen bytes)"
  else
    fail "curl binary infer matches ONNX Runtime" "$d"
  fi
fi

# 4. nghttp: a JSON request, and a binary request with a JSON answer.
hlen2=$("$tool" body "$tmp/bin2.req" --name x --shape 1x3x48x192 --seed 3 --binary)
for kind in json bin; do
  args=()
  [ "$kind" = bin ] && args=(-H "inference-header-content-length: $hlen2")
  file=$tmp/json.req
  [ "$kind" = bin ] && file=$tmp/bin2.req
  rc=0
  timeout 20 nghttp -H "authorization: Bearer $token" "${args[@]}" -d "$file" "https://127.0.0.1:$port$infer_path" \
    >"$tmp/nghttp.out" 2>"$tmp/err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    fail "nghttp $kind infer" "exit $rc: $(head -c 300 "$tmp/err")"
  elif d=$("$tool" check "$tmp/nghttp.out" -1 "$out_name" "$expect" 1e-4 2>&1); then
    pass "nghttp $kind infer matches ONNX Runtime (max abs diff $d)"
  else
    fail "nghttp $kind infer" "$d"
  fi
done

# 5. Partial offload with stock clients: the gateway runs x -> GlobalAveragePool.19, then, addressed by sha256,
# GlobalAveragePool.19 -> softmax; the answer equals the whole model's.
"$tool" body "$tmp/p1.req" --name x --shape 1x3x48x192 --seed 3 --binary --binary-out --output "$mid_name" >"$tmp/hlen"
if req "partial offload, first half" 200 "/v2/models/cls/versions/$sha/infer" "${auth[@]}" \
  -H "inference-header-content-length: $(cat "$tmp/hlen")" --data-binary "@$tmp/p1.req"; then
  mv "$tmp/body" "$tmp/p1.res"
  rlen=$(header inference-header-content-length)
  if "$tool" forward "$tmp/p1.res" "$rlen" "$tmp/p2.req" --output "$out_name" >"$tmp/hlen" 2>"$tmp/err" &&
    req "partial offload, second half" 200 "/v2/models/cls/versions/$sha/infer" "${auth[@]}" \
      -H "inference-header-content-length: $(cat "$tmp/hlen")" --data-binary "@$tmp/p2.req"; then
    if d=$("$tool" check "$tmp/body" "$(header inference-header-content-length)" "$out_name" "$expect" 1e-4 2>&1); then
      pass "partial offload through $mid_name equals the whole model (max abs diff $d)"
    else
      fail "partial offload result" "$d"
    fi
  else
    fail "partial offload, second request" "$(cat "$tmp/err")"
  fi
fi

# 6. Bad input: the right 4xx, a JSON error that names the problem, and the gateway keeps serving.
json=(-H 'content-type: application/json')
bad "malformed JSON" 400 'malformed JSON' "$infer_path" "${auth[@]}" "${json[@]}" --data '{"inputs": ['
bad "wrong dtype" 400 'dtype' "$infer_path" "${auth[@]}" "${json[@]}" \
  --data '{"inputs":[{"name":"x","datatype":"INT64","shape":[1,3,1,1],"data":[1,2,3]}]}'
bad "wrong shape" 400 'shape' "$infer_path" "${auth[@]}" "${json[@]}" \
  --data '{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4,1,1],"data":[1,2,3,4]}]}'
bad "wrong rank" 400 'shape' "$infer_path" "${auth[@]}" "${json[@]}" \
  --data '{"inputs":[{"name":"x","datatype":"FP32","shape":[3],"data":[1,2,3]}]}'
bad "wrong size (data count)" 400 '2 values' "$infer_path" "${auth[@]}" "${json[@]}" \
  --data '{"inputs":[{"name":"x","datatype":"FP32","shape":[1,3,1,1],"data":[1,2]}]}'
bad "unknown datatype" 400 'FP99' "$infer_path" "${auth[@]}" "${json[@]}" \
  --data '{"inputs":[{"name":"x","datatype":"FP99","shape":[1,3,1,1],"data":[1,2,3]}]}'
bad "unknown input" 400 "'y'" "$infer_path" "${auth[@]}" "${json[@]}" \
  --data '{"inputs":[{"name":"y","datatype":"FP32","shape":[1,3,1,1],"data":[1,2,3]}]}'
bad "unknown output" 400 'nope' "$infer_path" "${auth[@]}" "${json[@]}" \
  --data '{"inputs":[{"name":"x","datatype":"FP32","shape":[1,3,1,1],"data":[1,2,3]}],"outputs":[{"name":"nope"}]}'
printf '{"inputs":[{"name":"x","datatype":"FP32","shape":[1,3,1,1],"parameters":{"binary_data_size":8}}]}' >"$tmp/h"
head -c 12 /dev/zero | cat "$tmp/h" - >"$tmp/binbad.req"
bad "binary size mismatch" 400 'binary_data_size 8' "$infer_path" "${auth[@]}" \
  -H "inference-header-content-length: $(wc -c <"$tmp/h")" --data-binary "@$tmp/binbad.req"
bad "header length past the body" 400 'larger than the body' "$infer_path" "${auth[@]}" \
  -H "inference-header-content-length: 99999" --data-binary "@$tmp/binbad.req"
head -c 5000000 /dev/zero >"$tmp/big"
bad "body over the limit" 413 'limit' "$infer_path" "${auth[@]}" --data-binary "@$tmp/big"
bad "unknown model" 404 "model 'nosuch'" /v2/models/nosuch/infer "${auth[@]}" "${json[@]}" --data-binary "@$tmp/json.req"
if [ "$(header cleave-error "$tmp/bad.head")" = "model-not-found" ]; then pass "missing model marked cleave-error: model-not-found"; else fail "missing model marked" "$(cat "$tmp/head")"; fi
bad "unknown version (hash)" 404 'upload it' "/v2/models/cls/versions/$(printf %064d 0)/infer" "${auth[@]}" \
  --data-binary "@$tmp/json.req"

# 7. Uploads, verified by hash.
bad "upload with a wrong hash" 400 'hash mismatch' "/v2/repository/models/cls2/versions/$(printf %064d 0)" \
  "${auth[@]}" -X PUT --data-binary "@$cls_onnx"
head -c 1000 /dev/urandom >"$tmp/garbage"
gsha=$(sha256sum "$tmp/garbage" | cut -d' ' -f1)
bad "upload of a file that is no model" 400 'does not load' "/v2/repository/models/cls2/versions/$gsha" "${auth[@]}" \
  -X PUT --data-binary "@$tmp/garbage"
bad "upload without a token" 401 'bearer' "/v2/repository/models/cls2/versions/$sha" -X PUT --data-binary "@$cls_onnx"
if req "upload cls as cls2" 201 "/v2/repository/models/cls2/versions/$sha" "${auth[@]}" -X PUT \
  --data-binary "@$cls_onnx"; then
  pass "upload stored (201): $(head -c 200 "$tmp/body")"
  [ -f "$tmp/models/cls2/$sha/model.onnx" ] && pass "stored as cls2/<sha256>/model.onnx" || fail "stored file" "missing"
  req "upload again" 200 "/v2/repository/models/cls2/versions/$sha" "${auth[@]}" -X PUT --data-binary "@$cls_onnx" &&
    pass "upload again -> 200 (already there)"
  if req "infer on the uploaded model" 200 "/v2/models/cls2/versions/$sha/infer" "${auth[@]}" \
    --data-binary "@$tmp/json.req" && "$tool" check "$tmp/body" -1 "$out_name" "$expect" 1e-4 >/dev/null 2>&1; then
    pass "infer on the uploaded model matches"
  else
    fail "infer on the uploaded model" "$(head -c 200 "$tmp/body")"
  fi
fi

# Uploads of one model at once (an engine's readiness upload and a run's own, say): each is answered 200 or 201,
# never a failed write, and the model is there once.
pids=()
for i in 1 2 3 4; do
  curl_gw --http2 --cacert "$tmp/ca.pem" -o "$tmp/up$i.body" -w '%{http_code}' "${auth[@]}" -X PUT \
    --data-binary "@$cls_onnx" "https://localhost:$port/v2/repository/models/cls3/versions/$sha" >"$tmp/up$i.code" \
    2>/dev/null &
  pids+=($!)
done
codes=""
for i in 1 2 3 4; do
  wait "${pids[$((i - 1))]}" || true
  codes="$codes $(cat "$tmp/up$i.code")"
done
if [[ "$codes" =~ ^(\ (200|201))+$ && "$codes" == *201* ]]; then
  pass "4 uploads of one model at once:$codes"
else
  fail "4 uploads of one model at once" "statuses$codes: $(cat "$tmp"/up*.body | head -c 300)"
fi
[ "$(find "$tmp/models/cls3" -type f | wc -l)" -eq 1 ] && pass "stored once, no temporary file left" ||
  fail "concurrent uploads' files" "$(find "$tmp/models/cls3" -type f)"

# 8. Concurrency: 32 requests (binary in, JSON out) multiplexed at once all answer right; batching shows in
# /metrics.
urls=()
for i in $(seq 32); do
  urls+=(-o "$tmp/par.$i" "https://localhost:$port$infer_path")
done
ok=$(curl_gw --http2 --cacert "$tmp/ca.pem" --parallel --parallel-max 32 "${auth[@]}" \
  -H "inference-header-content-length: $hlen2" --data-binary "@$tmp/bin2.req" -w '%{http_code}\n' "${urls[@]}" \
  2>"$tmp/err" | grep -c '^200$' || true)
good=0
for i in $(seq 32); do
  "$tool" check "$tmp/par.$i" -1 "$out_name" "$expect" 1e-4 >/dev/null 2>&1 && good=$((good + 1))
done
if [ "$ok" -eq 32 ] && [ "$good" -eq 32 ]; then pass "32 concurrent binary infers, all 200 and right"; else fail "32 concurrent infers" "$ok answered 200, $good right"; fi
if req "GET /metrics" 200 /metrics "${auth[@]}"; then
  m=$(cat "$tmp/body")
  for metric in 'cleave_gateway_requests_total{code="2xx"}' 'cleave_gateway_infer_latency_seconds_count' \
    'cleave_gateway_queue_depth' 'cleave_gateway_received_bytes_total' 'cleave_gateway_infer_total{outcome="failed"}'; do
    if grep -qF "$metric" <<<"$m"; then pass "metrics has $metric"; else fail "metrics has $metric" "$(head -c 300 <<<"$m")"; fi
  done
  n_ok=$(sed -n 's/^cleave_gateway_infer_total{outcome="ok"} //p' <<<"$m")
  [ "${n_ok:-0}" -ge 38 ] && pass "metrics count $n_ok successful infers" || fail "metrics infer count" "'$n_ok'"
  echo "batching: $(grep -E '^cleave_gateway_batch' <<<"$m" | tr '\n' ' ')"
fi
n_log=$(grep -c '"POST /v2/models/cls/infer HTTP/2" 200' "$tmp/access.log" || true)
[ "$n_log" -ge 34 ] && pass "access log has $n_log successful infer lines" || fail "access log" "$n_log lines: $(tail -n 3 "$tmp/access.log")"

# 9. SIGTERM while requests are in flight: they are answered, then the gateway exits 0.
for i in $(seq 8); do
  curl_gw --http2 --cacert "$tmp/ca.pem" "${auth[@]}" -H "inference-header-content-length: $hlen" \
    --data-binary "@$tmp/bin.req" -o /dev/null -w '%{http_code}\n' "https://localhost:$port$infer_path" \
    >"$tmp/drain.$i" 2>&1 &
  bg_pids+=($!)
done
sleep 0.3
stop_gateway "exit 0 on SIGTERM with requests in flight"
for p in "${bg_pids[@]}"; do wait "$p" || true; done
bg_pids=()
n200=$(cat "$tmp"/drain.* | grep -c '^200$' || true)
nconn=$(cat "$tmp"/drain.* | grep -c '^000$' || true)
# a request whose connection opened before SIGTERM is answered; one that came later is refused at connect
if [ $((n200 + nconn)) -eq 8 ] && [ "$n200" -ge 1 ]; then pass "drain: $n200 answered 200, $nconn never connected"; else fail "drain" "$(cat "$tmp"/drain.* | tr '\n' ' ')"; fi
no_sanitizer_reports

# 10. A full queue: one executor, no queue, no batching; 24 streams at once on one nghttp connection: some get
# 503 with Retry-After and a JSON error, the others 200.
# (A profile named in the config is published as it is, its kind set to edge; one that does not load stops the
# gateway at start.)
cat >"$tmp/tight.conf" <<EOF
models = $tmp/models
max_concurrency = 1
queue_length = 0
batch_window_ms = 0
profile = $src/partitioner/profiles/pixel7-cpu.json
EOF
rc=0
"$bin" --listen 127.0.0.1:0 --cert "$tmp/server.pem" --key "$tmp/server.key" --config "$tmp/tight.conf" \
  --profile "$tmp/no-such-profile.json" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
if [ "$rc" -eq 1 ] && grep -q "no-such-profile.json" "$tmp/err"; then
  pass "--profile with a missing file: exit 1 naming it"
else
  fail "--profile with a missing file" "exit $rc: $(head -c 300 "$tmp/err")"
fi
start_gateway --config "$tmp/tight.conf"
if req "GET /v2/cleave/profile (from the config's file)" 200 /v2/cleave/profile; then
  if got=$("$tool" profile "$tmp/body" 2>&1) && [[ $got =~ ^pixel7-cpu\ edge\ 0\ 0\ [0-9.e+-]+\ 1$ ]]; then
    pass "profile = FILE published with kind edge, 1 executor ($got)"
  else
    fail "profile = FILE published with kind edge" "$got: $(head -c 300 "$tmp/body")"
  fi
fi
rc=0
timeout 30 nghttp -v -m 24 -H "inference-header-content-length: $hlen" -d "$tmp/bin.req" \
  "https://127.0.0.1:$port$infer_path" >"$tmp/q.out" 2>&1 || rc=$?
n503=$(grep -ac ':status: 503' "$tmp/q.out" || true)
n200=$(grep -ac ':status: 200' "$tmp/q.out" || true)
nretry=$(grep -acE 'retry-after: [0-9]+' "$tmp/q.out" || true)
nerr=$(grep -ac '"error":"the gateway' "$tmp/q.out" || true)
ntiming=$(grep -acE 'server-timing: recv;dur=[0-9.]+, queue;dur=[0-9.]+, run;dur=[0-9.]+' "$tmp/q.out" || true)
if [ "$n503" -ge 1 ] && [ "$n200" -ge 1 ] && [ $((n503 + n200)) -eq 24 ] && [ "$nretry" -eq "$n503" ] &&
  [ "$nerr" -eq "$n503" ] && [ "$ntiming" -eq "$n200" ]; then
  pass "full queue: $n200 x 200 (each with Server-Timing), $n503 x 503 each with Retry-After and a JSON error"
else
  fail "full queue" "nghttp exit $rc: 200 x $n200, 503 x $n503, retry-after x $nretry, errors x $nerr, server-timing x $ntiming"
fi
still_serving "a full queue"

# 11. mTLS: a gateway that requires client certificates refuses a client without one, serves one with one.
stop_gateway "exit 0 on SIGTERM"
# (with the example config from deploy/, whose paths the flags override)
start_gateway --config "$src/deploy/cleave-gateway.conf" --models "$tmp/models" --client-ca "$tmp/ca.pem" \
  --access-log "$tmp/access2.log"
rc=0
curl_gw --http2 --cacert "$tmp/ca.pem" -o /dev/null "https://localhost:$port/v2/health/live" 2>"$tmp/err" || rc=$?
if [ "$rc" -ne 0 ]; then pass "mTLS: no client certificate refused (curl exit $rc)"; else fail "mTLS: no client certificate refused" "request succeeded"; fi
if req "mTLS with a client certificate" 200 "$infer_path" --cert "$tmp/client.pem" --key "$tmp/client.key" \
  --data-binary "@$tmp/json.req"; then
  pass "mTLS: client certificate accepted, infer 200"
fi
rc=0
curl_gw --http2 --cacert "$tmp/ca.pem" --cert "$tmp/client.pem" --key "$tmp/client.key" -o /dev/null \
  "https://localhost:$port/v2/health/live" || rc=$?
[ "$rc" -eq 0 ] && pass "mTLS gateway still serves after a refusal" || fail "mTLS gateway still serves" "exit $rc"
stop_gateway "exit 0 on SIGTERM (mTLS)"
no_sanitizer_reports

# 12. backend = vulkan: the same binary infer on the gpu device (lavapipe here), named by its API. lavapipe's own
# small leaks are not ours (tests/local/lavapipe.supp).
printf 'backend = vulkan\nthreads = 1\n' >"$tmp/vk.conf"
LSAN_OPTIONS="suppressions=$src/tests/local/lavapipe.supp" start_gateway --config "$tmp/vk.conf" --models "$tmp/models"
if req "backend = vulkan: binary infer" 200 "$infer_path" -H "inference-header-content-length: $hlen" \
  -H 'content-type: application/octet-stream' --data-binary "@$tmp/bin.req"; then
  rlen=$(header inference-header-content-length)
  if d=$("$tool" check "$tmp/body" "$rlen" "$out_name" "$expect" 1e-4 2>&1); then
    pass "backend = vulkan: infer matches ONNX Runtime (max abs diff $d)"
  else
    fail "backend = vulkan: infer matches ONNX Runtime" "$d"
  fi
fi
stop_gateway "exit 0 on SIGTERM (vulkan)"
no_sanitizer_reports
finish
