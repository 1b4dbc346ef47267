# tests/remote: what the gateway's shell tests share: tools check, PASS/FAIL bookkeeping, a private CA with server
# and client certificates, starting the gateway on an OS-chosen port, and curl/openssl wrappers.
# Source it after setting bin (the gateway binary); it sets tmp, gw_pid, port.
# shellcheck shell=bash

missing=0
need() { # command, Debian package that provides it
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "FAIL $1 not found: apt-get install $2"
    missing=1
  fi
}
need curl curl
need nghttp nghttp2-client
need openssl openssl
need timeout coreutils
[ "$missing" -eq 0 ] || exit 1
if ! grep -qw HTTP2 <<<"$(curl -V)"; then
  echo "FAIL curl was built without HTTP/2: install Debian's curl"
  exit 1
fi
if [ ! -x "$bin" ]; then
  echo "FAIL $bin does not exist or is not executable"
  exit 1
fi

tmp=$(mktemp -d)
# a gateway without a profile measures its backend at start and caches the figures: here, once per script
export CLEAVE_CACHE_DIR="$tmp/cache"
gw_pid=
bg_pids=()
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local p
  for p in "${bg_pids[@]}" $gw_pid; do
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passes=0 fails=0
pass() { passes=$((passes + 1)) && echo "PASS $1"; }
fail() { fails=$((fails + 1)) && echo "FAIL $1${2:+: $2}"; }
finish() {
  if [ "$fails" -ne 0 ] && [ -s "$tmp/gw.err" ]; then
    echo "--- gateway stderr (last 40 lines)"
    tail -n 40 "$tmp/gw.err"
  fi
  echo "$passes passed, $fails failed"
  if [ "$fails" -ne 0 ]; then exit 1; fi
  exit 0
}

# A private CA, a server certificate it signs valid for both names the clients use, and a client certificate for
# mTLS. The config is our own so that the system's openssl.cnf cannot add or veto extensions.
make_certs() {
cat >"$tmp/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = cleave interop test CA
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
EOF
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
if openssl req -config "$tmp/openssl.cnf" -x509 -new "${ec[@]}" -sha256 -days 2 -extensions ca_ext \
  -keyout "$tmp/ca.key" -out "$tmp/ca.pem" >"$tmp/err" 2>&1 &&
  openssl req -config "$tmp/openssl.cnf" -new "${ec[@]}" -subj /CN=localhost \
    -keyout "$tmp/server.key" -out "$tmp/server.csr" >>"$tmp/err" 2>&1 &&
  openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -sha256 -days 2 -extfile "$tmp/openssl.cnf" -extensions server_ext \
    -out "$tmp/server.pem" >>"$tmp/err" 2>&1 &&
  openssl verify -CAfile "$tmp/ca.pem" "$tmp/server.pem" >>"$tmp/err" 2>&1 &&
  openssl req -config "$tmp/openssl.cnf" -new "${ec[@]}" -subj /CN=cleave-test-client \
    -keyout "$tmp/client.key" -out "$tmp/client.csr" >>"$tmp/err" 2>&1 &&
  openssl x509 -req -in "$tmp/client.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -sha256 -days 2 -extfile "$tmp/openssl.cnf" -extensions client_ext \
    -out "$tmp/client.pem" >>"$tmp/err" 2>&1; then
  pass "CA, server and client certificates (P-256, SAN localhost + 127.0.0.1)"
else
  fail "CA, server and client certificates" "$(cat "$tmp/err")"
  finish
fi
}

# start_gateway [args...]: the gateway on an OS-chosen port of 127.0.0.1 with the test's certificate; sets gw_pid
# and port, or fails the test.
start_gateway() {
: >"$tmp/gw.out"
"$bin" --listen 127.0.0.1:0 --cert "$tmp/server.pem" --key "$tmp/server.key" "$@" \
  >"$tmp/gw.out" 2>"$tmp/gw.err" </dev/null &
gw_pid=$!
deadline=$((SECONDS + 10))
while [ "$(wc -l <"$tmp/gw.out")" -lt 1 ] && [ "$SECONDS" -le "$deadline" ] && kill -0 "$gw_pid" 2>/dev/null; do
  sleep 0.1
done
line=$(head -n 1 "$tmp/gw.out")
port=
if [[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] &&
  [ "${BASH_REMATCH[1]}" -lt 65536 ]; then
  port=${BASH_REMATCH[1]}
  pass "ready line '$line'"
elif ! kill -0 "$gw_pid" 2>/dev/null; then
  rc=0
  wait "$gw_pid" || rc=$?
  fail "ready line" "gateway exited with status $rc before printing it"
  finish
else
  fail "ready line" "want 'listening on 127.0.0.1:PORT' within 10 s, got '$line'"
  finish
fi
}

# stop_gateway NAME: SIGTERM, and the gateway must exit 0 within 20 s.
stop_gateway() {
  kill -TERM "$gw_pid"
  local deadline=$((SECONDS + 20)) rc=0
  while kill -0 "$gw_pid" 2>/dev/null && [ "$SECONDS" -le "$deadline" ]; do sleep 0.1; done
  if kill -0 "$gw_pid" 2>/dev/null; then
    fail "$1" "still running 20 s after SIGTERM"
    kill -KILL "$gw_pid" 2>/dev/null || true
    wait "$gw_pid" 2>/dev/null || true
  else
    wait "$gw_pid" || rc=$?
    if [ "$rc" -eq 0 ]; then pass "$1"; else fail "$1" "exit status $rc"; fi
  fi
  gw_pid=
}

# no_sanitizer_reports: the gateway's stderr holds no ASan/UBSan report.
no_sanitizer_reports() {
  if grep -qE 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:' "$tmp/gw.err"; then
    fail "no sanitizer reports from the gateway" "$(grep -E -A5 'Sanitizer|runtime error' "$tmp/gw.err" | head -20)"
  else
    pass "no sanitizer reports from the gateway"
  fi
}

# Every curl trusts only the test CA, reaches localhost through 127.0.0.1 alone and ignores ~/.curlrc and proxies.
curl_gw() {
  timeout 15 curl -q -sS --noproxy '*' --max-time 10 --resolve "localhost:$port:127.0.0.1" "$@"
}

# name, want status, body pattern (extended regex over the body with all whitespace removed), path [curl args...];
# the URL names localhost unless url_host says otherwise.
check_req() {
  local name=$1 want=$2 pattern=$3 path=$4 got rc=0
  shift 4
  got=$(curl_gw --http2 --cacert "$tmp/ca.pem" -o "$tmp/body" -D "$tmp/head" -w '%{http_code} %{http_version}' \
    "$@" "https://${url_host:-localhost}:$port$path" 2>"$tmp/err") || rc=$?
  if [ "$rc" -ne 0 ]; then
    fail "$name" "curl exit $rc: $(head -c 300 "$tmp/err")"
  elif [ "$got" != "$want 2" ]; then
    fail "$name" "got status and version '$got', want '$want 2'"
  elif ! grep -qE "$pattern" <<<"$(tr -d ' \t\r\n' <"$tmp/body")"; then
    fail "$name" "body '$(head -c 300 "$tmp/body")' does not match $pattern"
  elif ! grep -qiE '^content-type:[[:space:]]*application/json[[:space:]]*(;.*)?$' \
    <<<"$(tr -d '\r' <"$tmp/head")"; then
    fail "$name" "no 'content-type: application/json' in: $(tr -d '\r' <"$tmp/head" | tr '\n' ' ')"
  else
    pass "$name ($got)"
    return 0
  fi
  return 1
}

# After a client was turned away the gateway must still be alive and answering; if it died, nothing after means
# anything.
still_serving() {
  if ! kill -0 "$gw_pid" 2>/dev/null; then
    local rc=0
    wait "$gw_pid" || rc=$?
    fail "serves after $1" "gateway exited with status $rc"
    finish
  fi
  check_req "serves after $1" 200 '^\{"live":true\}$' /v2/health/live || true
}

# name, command...: the command must fail by itself within 10 s. 124 means timeout had to kill it: the gateway
# neither answered nor hung up. curl's 7 means the TCP connection itself was refused.
expect_refused() {
  local name=$1 rc=0
  shift
  timeout 10 "$@" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
  case $rc in
  0) fail "$name" "succeeded: $(head -c 200 "$tmp/out")" ;;
  124) fail "$name" "still connected after 10 s" ;;
  7) fail "$name" "TCP connection refused: $(head -c 200 "$tmp/err")" ;;
  *) pass "$name (exit $rc: $(head -n 1 "$tmp/err" | cut -c 1-100))" ;;
  esac
}

s_client() { # s_client args...: a TLS connection to the gateway with stdin closed, output in $tmp/out
  timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost -CAfile "$tmp/ca.pem" "$@" \
    </dev/null >"$tmp/out" 2>&1
}

# name, s_client args...: a TLS client that does not offer h2 gets a handshake alert, or a handshake without ALPN
# and then a close; -ign_eof keeps it connected until the gateway hangs up.
expect_no_alpn() {
  local name=$1 rc=0
  shift
  s_client -ign_eof "$@" || rc=$?
  if [ "$rc" -eq 124 ]; then
    fail "$name" "still connected after 10 s"
  elif grep -aq '^ALPN protocol:' "$tmp/out"; then
    fail "$name" "gateway agreed to '$(grep -a '^ALPN protocol:' "$tmp/out")'"
  elif grep -aqi 'alert' "$tmp/out"; then
    pass "$name (alert: $(grep -aio 'alert [a-z ]*' "$tmp/out" | head -n 1))"
  else
    pass "$name (closed after the handshake, exit $rc)"
  fi
}

# need_cls_model: sets cls_onnx to PP-OCR cls from $CLEAVE_MODELS, or skips the test (exit 77).
need_cls_model() {
  cls_onnx="${CLEAVE_MODELS:-}/ch_ppocr_mobile_v2.0_cls_infer.onnx"
  if [ -z "${CLEAVE_MODELS:-}" ] || [ ! -f "$cls_onnx" ]; then
    echo "SKIP set CLEAVE_MODELS to the folder scripts/fetch-models.sh fills"
    exit 77
  fi
}
