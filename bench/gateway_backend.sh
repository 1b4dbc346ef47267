#!/usr/bin/env bash
# bench/gateway_backend.sh: cleave-gateway's infer throughput per backend, side by side on one host.
# For each backend given (gpu, cpu, ...), starts cleave-gateway on 127.0.0.1 (TLS 1.3, HTTP/2, a certificate made
# here) with PP-OCR det and rec in its model folder, and drives binary-extension infer requests (det 1x3x640x640,
# rec 1x3x48x320, random inputs from the project's generator) with h2load at a few concurrencies: C connections of
# one stream each, a bounded count of requests. Prints requests/s and latency (mean, max) per backend, model and
# concurrency, and the gateway config used.
# Usage: bench/gateway_backend.sh BIN_DIR BACKEND...   (BIN_DIR holds cleave-gateway and gw_tool; models from
#        $CLEAVE_MODELS, default ./models; N_DET and N_REC: requests at concurrency 1, default 100 and 400, twice
#        as many at the higher concurrencies)
# Gateway config per backend: cpu and ref: max_concurrency 2, threads = cores / 2 (each executor runs one request
# with half the cores); gpu/vulkan: max_concurrency 2 (one request's host copies overlap the other's GPU work),
# threads 1. batch_window_ms 0 (no batching: each request runs at its own shape), queue_length 256.
set -euo pipefail
bin=${1:?usage: bench/gateway_backend.sh BIN_DIR BACKEND...}
shift
[ $# -ge 1 ] || { echo "usage: bench/gateway_backend.sh BIN_DIR BACKEND..." >&2; exit 2; }
models=${CLEAVE_MODELS:-models}
n_det=${N_DET:-100}
n_rec=${N_REC:-400}
for t in h2load openssl; do
  command -v "$t" >/dev/null || { echo "gateway_backend.sh: $t is missing (apt-get install nghttp2-client openssl)" >&2; exit 1; }
done
for m in ch_PP-OCRv4_det_infer ch_PP-OCRv4_rec_infer; do
  [ -f "$models/$m.onnx" ] || { echo "gateway_backend.sh: $models/$m.onnx is missing" >&2; exit 1; }
done
tmp=$(mktemp -d)
gw_pid=
cleanup() {
  if [ -n "$gw_pid" ]; then kill -TERM "$gw_pid" 2>/dev/null || true; wait "$gw_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
  -days 1 -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
mkdir -p "$tmp/models/det/1" "$tmp/models/rec/1"
cp "$models/ch_PP-OCRv4_det_infer.onnx" "$tmp/models/det/1/model.onnx"
cp "$models/ch_PP-OCRv4_rec_infer.onnx" "$tmp/models/rec/1/model.onnx"
det_hlen=$("$bin/gw_tool" body "$tmp/det.req" --name x --shape 1x3x640x640 --seed 1 --binary --binary-out)
rec_hlen=$("$bin/gw_tool" body "$tmp/rec.req" --name x --shape 1x3x48x320 --seed 1 --binary --binary-out)
cores=$(nproc)

# h2load_run URL BODY HLEN N C -> "req_per_s mean_ms max_ms failed"
h2load_run() {
  local url=$1 body=$2 hlen=$3 n=$4 c=$5
  timeout 300 h2load -n "$n" -c "$c" -m 1 -H "inference-header-content-length: $hlen" -d "$body" "$url" \
    >"$tmp/h2load.out" 2>&1 || true
  local rps failed mean max
  rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$tmp/h2load.out")
  failed=$(sed -n 's/^requests: .* \([0-9]*\) failed.*/\1/p' "$tmp/h2load.out")
  # "time for request:  min  max  mean  sd  +/- sd", each with its unit; printed in ms
  to_ms='function ms(v) { if (v ~ /ms$/) { sub("ms", "", v); return v } if (v ~ /us$/) { sub("us", "", v); return v / 1000 }
         sub("s", "", v); return v * 1000 }'
  mean=$(awk "$to_ms"' /^time for request:/ {printf "%.2f", ms($6)}' "$tmp/h2load.out")
  max=$(awk "$to_ms"' /^time for request:/ {printf "%.2f", ms($5)}' "$tmp/h2load.out")
  echo "${rps:-0} ${mean:-?} ${max:-?} ${failed:-?}"
}

printf '%-8s %-4s %4s %6s %10s %10s %10s %7s\n' backend model conc n 'req/s' 'mean ms' 'max ms' failed
for backend in "$@"; do
  case $backend in
  gpu | vulkan) conf="backend = $backend\nmax_concurrency = 2\nthreads = 1\n" ;;
  *) conf="backend = $backend\nmax_concurrency = 2\nthreads = $(((cores + 1) / 2))\n" ;;
  esac
  printf "${conf}batch_window_ms = 0\nqueue_length = 256\nmax_request_bytes = 100000000\nmodels = %s\n" \
    "$tmp/models" >"$tmp/gw.conf"
  echo "# $backend config: $(grep -v '^models' "$tmp/gw.conf" | tr '\n' ';')"
  : >"$tmp/gw.out"
  "$bin/cleave-gateway" --listen 127.0.0.1:0 --cert "$tmp/cert.pem" --key "$tmp/key.pem" --config "$tmp/gw.conf" \
    >"$tmp/gw.out" 2>"$tmp/gw.err" </dev/null &
  gw_pid=$!
  for _ in $(seq 300); do grep -q listening "$tmp/gw.out" && break; kill -0 "$gw_pid" 2>/dev/null || break; sleep 0.1; done
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/gw.out")
  if [ -z "$port" ]; then
    echo "gateway_backend.sh: the gateway ($backend) did not start: $(tail -n 5 "$tmp/gw.err")" >&2
    kill -TERM "$gw_pid" 2>/dev/null || true
    wait "$gw_pid" 2>/dev/null || true
    gw_pid=
    continue
  fi
  for model in det rec; do
    url="https://127.0.0.1:$port/v2/models/$model/infer"
    body="$tmp/$model.req"
    hlen=$det_hlen n1=$n_det
    [ "$model" = rec ] && hlen=$rec_hlen n1=$n_rec
    # warm-up: every executor compiles and plans its session
    h2load_run "$url" "$body" "$hlen" 8 2 >/dev/null
    for c in 1 4 16; do
      n=$((c > 1 ? 2 * n1 : n1))
      [ "$n" -ge "$c" ] || n=$c
      read -r rps mean max failed <<<"$(h2load_run "$url" "$body" "$hlen" "$n" "$c")"
      printf '%-8s %-4s %4d %6d %10s %10s %10s %7s\n' "$backend" "$model" "$c" "$n" "$rps" "$mean" "$max" "$failed"
    done
  done
  kill -TERM "$gw_pid" 2>/dev/null || true
  wait "$gw_pid" 2>/dev/null || true
  gw_pid=
done
