#!/usr/bin/env bash
# The hybrid demo (make demo): a gateway on 127.0.0.1 with a throwaway certificate, behind the link emulator, and
# the OCR pipeline through cleave in AUTO mode while the link goes Wi-Fi, LTE, 3G, offline and Wi-Fi again.
#
# Usage: scripts/demo.sh [--bin DIR] [--models DIR] [-- cleave-ocr-demo options...]
#   --bin DIR      the built binaries (default build/bin)
#   --models DIR   the PP-OCR models (default $CLEAVE_MODELS, else models; scripts/fetch-models.sh fills it)
#   after --: passed to cleave-ocr-demo, e.g. -- --phases wifi,offline,wifi --requests-per-phase 2
#
# It makes a CA and a server certificate for IP 127.0.0.1 in a temporary folder, puts the models in a repository
# of the gateway's own (so that no request waits for an upload), starts cleave-gateway (backend cpu) on a free port
# and cleave-link in front of it with a control port, and runs cleave-ocr-demo, which changes the link when a phase
# has had its requests. Every address is numeric: no name is resolved. The processes and the folder are removed on
# exit, Ctrl-C included. The device and the gateway measure their backends once (about a second each) into a cache
# in the temporary folder, unless CLEAVE_CACHE_DIR names one.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=$here/build/bin
models=${CLEAVE_MODELS:-$here/models}
while [ $# -gt 0 ]; do
  case $1 in
  --bin) bin=${2:?--bin needs a folder}; shift 2 ;;
  --models) models=${2:?--models needs a folder}; shift 2 ;;
  --) shift; break ;;
  -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "demo: unknown argument '$1' (options for cleave-ocr-demo go after --)" >&2; exit 2 ;;
  esac
done
for b in cleave-gateway cleave-link cleave-ocr-demo; do
  [ -x "$bin/$b" ] || { echo "demo: $bin/$b is missing: build first (cmake --build build)" >&2; exit 1; }
done
for m in ch_PP-OCRv4_det_infer ch_ppocr_mobile_v2.0_cls_infer ch_PP-OCRv4_rec_infer; do
  [ -f "$models/$m.onnx" ] || { echo "demo: $models/$m.onnx is missing: run scripts/fetch-models.sh $models" >&2; exit 1; }
done
command -v openssl >/dev/null 2>&1 || { echo "demo: openssl not found: apt-get install openssl" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cleave-demo.XXXXXX")
pids=()
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local p deadline
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    deadline=$((SECONDS + 10))
    while kill -0 "$p" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export CLEAVE_CACHE_DIR=${CLEAVE_CACHE_DIR:-$tmp/cache}

# A CA and a server certificate it signs for IP 127.0.0.1 alone; the config is our own, so that the system's
# openssl.cnf cannot add or veto extensions.
cat >"$tmp/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = cleave demo CA
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
if ! { openssl req -config "$tmp/openssl.cnf" -x509 -new "${ec[@]}" -sha256 -days 1 -extensions ca_ext \
  -keyout "$tmp/ca.key" -out "$tmp/ca.pem" &&
  openssl req -config "$tmp/openssl.cnf" -new "${ec[@]}" -subj /CN=127.0.0.1 \
    -keyout "$tmp/server.key" -out "$tmp/server.csr" &&
  openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -sha256 -days 1 -extfile "$tmp/openssl.cnf" -extensions server_ext \
    -out "$tmp/server.pem"; } >"$tmp/openssl.log" 2>&1; then
  echo "demo: could not make the certificates:" >&2
  cat "$tmp/openssl.log" >&2
  exit 1
fi

# The gateway's repository, <model>/1/model.onnx, named as the library names them; it finds them by their sha256.
for m in ch_PP-OCRv4_det_infer ch_ppocr_mobile_v2.0_cls_infer ch_PP-OCRv4_rec_infer; do
  mkdir -p "$tmp/repo/$m/1"
  cp "$models/$m.onnx" "$tmp/repo/$m/1/model.onnx"
done

# wait_line FILE PID SECONDS: the first line of FILE once the process has written it; fails when the process exits
# first or the time runs out.
wait_line() {
  local deadline=$((SECONDS + $3))
  while [ ! -s "$1" ] || [ "$(wc -l <"$1")" -lt 1 ]; do
    kill -0 "$2" 2>/dev/null || return 1
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
  head -n 1 "$1"
}

"$bin/cleave-gateway" --listen 127.0.0.1:0 --cert "$tmp/server.pem" --key "$tmp/server.key" --models "$tmp/repo" \
  --backend cpu </dev/null >"$tmp/gateway.out" 2>"$tmp/gateway.log" &
pids+=($!)
if ! line=$(wait_line "$tmp/gateway.out" "${pids[0]}" 60) || [[ ! $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
  echo "demo: cleave-gateway did not start; its log:" >&2
  tail -n 20 "$tmp/gateway.log" >&2
  exit 1
fi
gw_port=${BASH_REMATCH[1]}

"$bin/cleave-link" --listen 127.0.0.1:0 --target "127.0.0.1:$gw_port" --control 127.0.0.1:0 --preset wifi \
  </dev/null >"$tmp/link.out" 2>"$tmp/link.log" &
pids+=($!)
if ! line=$(wait_line "$tmp/link.out" "${pids[1]}" 20) ||
  [[ ! $line =~ ^listening\ 127\.0\.0\.1:([0-9]+)\ control\ 127\.0\.0\.1:([0-9]+)$ ]]; then
  echo "demo: cleave-link did not start; its log:" >&2
  tail -n 20 "$tmp/link.log" >&2
  exit 1
fi
link_port=${BASH_REMATCH[1]} control_port=${BASH_REMATCH[2]}
echo "demo: cleave-gateway (backend cpu) on 127.0.0.1:$gw_port, behind cleave-link on 127.0.0.1:$link_port" \
  "(control port $control_port)"

rc=0
"$bin/cleave-ocr-demo" --models "$models" --edge "https://127.0.0.1:$link_port" --ca "$tmp/ca.pem" \
  --link-control "127.0.0.1:$control_port" "$@" </dev/null || rc=$?
if ! kill -0 "${pids[0]}" 2>/dev/null; then
  echo "demo: cleave-gateway exited during the demo; its log:" >&2
  tail -n 20 "$tmp/gateway.log" >&2
  [ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"
