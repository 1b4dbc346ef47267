#!/usr/bin/env bash
# bench/remote.sh: the remote path against its peers, side by side on 127.0.0.1 over TLS 1.3 and HTTP/2.
#  1. Round trip of a small infer (y = x + 1 on 16 floats, JSON) on cleave-gateway, against nghttpd (Debian's
#     nghttp2-server) serving a file of the same size as the infer's answer, both driven by h2load: one stream at a
#     time (latency) and 16 connections x 8 streams (throughput). Rounds alternate who goes first; medians.
#  2. Upload goodput of a 64 MiB tensor (ReduceSum on the gateway) through cleave's client (cleave-run --edge),
#     against `openssl speed -evp aes-128-gcm` on one core.
# Usage: bench/remote.sh BIN_DIR [ROUNDS]   (BIN_DIR holds cleave-gateway, cleave-run and gw_tool)
set -euo pipefail
bin=${1:?usage: bench/remote.sh BIN_DIR [ROUNDS]}
rounds=${2:-3}
for t in h2load nghttpd openssl; do
  command -v "$t" >/dev/null || { echo "remote.sh: $t is missing (apt-get install nghttp2-client nghttp2-server openssl)" >&2; exit 1; }
done
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
  -days 1 -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
mkdir -p "$tmp/models/add1/1" "$tmp/models/sum/1" "$tmp/htdocs"
"$bin/gw_tool" model add1 "$tmp/models/add1/1/model.onnx"
"$bin/gw_tool" model sum "$tmp/models/sum/1/model.onnx"
"$bin/gw_tool" body "$tmp/add1.req" --name x --shape 1x16 --seed 1 >/dev/null

"$bin/cleave-gateway" --listen 127.0.0.1:0 --cert "$tmp/cert.pem" --key "$tmp/key.pem" --models "$tmp/models" \
  --config <(printf 'queue_length = 4096\nmax_concurrency = 2\nthreads = 1\nmax_request_bytes = 100000000\n') \
  >"$tmp/gw.out" 2>"$tmp/gw.err" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$tmp/gw.out" && break; sleep 0.1; done
gw_port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/gw.out")
[ -n "$gw_port" ] || { echo "remote.sh: the gateway did not start: $(cat "$tmp/gw.err")" >&2; exit 1; }

# the file nghttpd serves is exactly as long as the gateway's answer
curl -sS --http2 --cacert "$tmp/cert.pem" --data-binary "@$tmp/add1.req" -o "$tmp/htdocs/answer" \
  "https://127.0.0.1:$gw_port/v2/models/add1/infer"
size=$(wc -c <"$tmp/htdocs/answer")
ng_port=$((gw_port + 1))
while (echo >"/dev/tcp/127.0.0.1/$ng_port") 2>/dev/null; do ng_port=$((ng_port + 1)); done
nghttpd -a 127.0.0.1 -d "$tmp/htdocs" "$ng_port" "$tmp/key.pem" "$tmp/cert.pem" >/dev/null 2>&1 &
pids+=($!)
sleep 0.5

# h2load_run URL N C M [args...] -> "req_per_s mean_us failed"
h2load_run() {
  local url=$1 n=$2 c=$3 m=$4
  shift 4
  timeout 300 h2load -n "$n" -c "$c" -m "$m" "$@" "$url" >"$tmp/h2load.out" 2>&1 || true
  local rps mean failed
  rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$tmp/h2load.out")
  failed=$(sed -n 's/^requests: .* \([0-9]*\) failed.*/\1/p' "$tmp/h2load.out")
  # "time for request:  min  max  mean  sd  +/- sd", each with its unit
  mean=$(awk '/^time for request:/ {v=$6; if (v ~ /ms$/) {sub("ms","",v); v*=1000} else if (v ~ /us$/) sub("us","",v); else if (v ~ /s$/) {sub("s","",v); v*=1e6}; print v}' "$tmp/h2load.out")
  echo "${rps:-0} ${mean:-0} ${failed:-?}"
}
gw_url="https://127.0.0.1:$gw_port/v2/models/add1/infer"
ng_url="https://127.0.0.1:$ng_port/answer"
gw_args=(-d "$tmp/add1.req" -H 'content-type: application/json')
for r in $(seq "$rounds"); do
  order=(gw ng)
  [ $((r % 2)) -eq 0 ] && order=(ng gw)
  for who in "${order[@]}"; do
    if [ "$who" = gw ]; then
      read -r _ lat f1 <<<"$(h2load_run "$gw_url" 5000 1 1 "${gw_args[@]}")"
      read -r rps _ f2 <<<"$(h2load_run "$gw_url" 40000 16 8 "${gw_args[@]}")"
    else
      read -r _ lat f1 <<<"$(h2load_run "$ng_url" 5000 1 1)"
      read -r rps _ f2 <<<"$(h2load_run "$ng_url" 40000 16 8)"
    fi
    echo "$who $lat $rps $f1 $f2" >>"$tmp/rt"
    echo "round $r $who: mean latency ${lat} us (1 stream), ${rps} req/s (16 x 8), failed $f1 + $f2" >&2
  done
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
gw_lat=$(awk '$1=="gw"{print $2}' "$tmp/rt" | median)
ng_lat=$(awk '$1=="ng"{print $2}' "$tmp/rt" | median)
gw_rps=$(awk '$1=="gw"{print $3}' "$tmp/rt" | median)
ng_rps=$(awk '$1=="ng"{print $3}' "$tmp/rt" | median)
failed=$(awk '{s+=$4+$5} END {print s}' "$tmp/rt")

# 64 MiB up through cleave's client
if ! up_json=$("$bin/cleave-run" "$tmp/models/sum/1/model.onnx" --random-inputs 1 --shape x=16777216 \
  --edge "https://127.0.0.1:$gw_port" --edge-ca "$tmp/cert.pem" --edge-name sum --warmup 1 --repeat 5 --json); then
  echo "remote.sh: the upload run failed" >&2
  exit 1
fi
up_ms=$(sed -n 's/.*"p50_ms": \([0-9.e+-]*\).*/\1/p' <<<"$up_json" | head -n 1)
aes=$(taskset -c 0 openssl speed -evp aes-128-gcm -bytes 16384 -seconds 2 2>/dev/null | awk '/^AES-128-GCM|^aes-128-gcm/ {v=$NF; sub("k","",v); print v*1000}')
cipher=$( (echo | timeout 5 openssl s_client -connect "127.0.0.1:$gw_port" -alpn h2 2>/dev/null || true) |
  grep -o 'Cipher is [^ ]*' | head -n 1 | cut -d' ' -f3 || true)

awk -v gl="$gw_lat" -v nl="$ng_lat" -v gr="$gw_rps" -v nr="$ng_rps" -v size="$size" -v f="$failed" \
  -v upms="$up_ms" -v aes="$aes" -v cipher="$cipher" -v rounds="$rounds" 'BEGIN {
  printf "small infer round trip (%d-byte answer), %d rounds, medians:\n", size, rounds
  printf "  %-34s %12s %12s %8s\n", "", "cleave-gateway", "nghttpd", "ratio"
  printf "  %-34s %12.0f %12.0f %8.2f\n", "mean latency, 1 stream (us)", gl, nl, gl / nl
  printf "  %-34s %12.0f %12.0f %8.2f\n", "throughput, 16 conns x 8 (req/s)", gr, nr, gr / nr
  printf "  failed requests: %d\n", f
  good = 67108864 / (upms / 1000) / 1e6
  printf "upload of a 64 MiB tensor (TLS cipher %s): p50 %.1f ms, goodput %.0f MB/s\n", cipher, upms, good
  printf "  openssl speed -evp aes-128-gcm, 16 KiB blocks, one core: %.0f MB/s; ratio %.2f\n", aes / 1e6, good / (aes / 1e6)
}'
