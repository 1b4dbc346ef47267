#!/usr/bin/env bash
# tests/remote: cleave-gateway against stock clients (curl, nghttp, openssl s_client) over real TLS: health and
# metadata over HTTP/2 with a private CA, 404/405 with JSON errors, refusal of HTTP/1.1, of plain TCP and of old
# TLS while others keep being served, certificate verification, bursts of requests and a clean exit on SIGTERM.
# Usage: test_gateway_interop.sh BIN_DIR
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BIN_DIR" >&2
  exit 2
fi
bin="$1/cleave-gateway"

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

# 1. A private CA and a server certificate it signs, valid for both names the clients use. The config is our own so
# that the system's openssl.cnf cannot add or veto extensions.
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
EOF
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
if openssl req -config "$tmp/openssl.cnf" -x509 -new "${ec[@]}" -sha256 -days 2 -extensions ca_ext \
  -keyout "$tmp/ca.key" -out "$tmp/ca.pem" >"$tmp/err" 2>&1 &&
  openssl req -config "$tmp/openssl.cnf" -new "${ec[@]}" -subj /CN=localhost \
    -keyout "$tmp/server.key" -out "$tmp/server.csr" >>"$tmp/err" 2>&1 &&
  openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -sha256 -days 2 -extfile "$tmp/openssl.cnf" -extensions server_ext \
    -out "$tmp/server.pem" >>"$tmp/err" 2>&1 &&
  openssl verify -CAfile "$tmp/ca.pem" "$tmp/server.pem" >>"$tmp/err" 2>&1; then
  pass "CA and server certificate (P-256, SAN localhost + 127.0.0.1)"
else
  fail "CA and server certificate" "$(cat "$tmp/err")"
  finish
fi

# 2. Start on an OS-chosen port.
: >"$tmp/gw.out"
"$bin" --listen 127.0.0.1:0 --cert "$tmp/server.pem" --key "$tmp/server.key" \
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

# 3. Health and metadata over HTTP/2.
check_req "GET /v2/health/live" 200 '^\{"live":true\}$' /v2/health/live || true
check_req "GET /v2/health/ready" 200 '^\{"ready":true\}$' /v2/health/ready || true
if check_req "GET /v2" 200 '^\{.*\}$' /v2; then
  meta=$(tr -d ' \t\r\n' <"$tmp/body")
  for key in name version extensions; do
    case $key in
    name) want='"name":"cleave-gateway"' ;;
    version) want='"version":"[^"]+"' ;;
    extensions) want='"extensions":\[' ;;
    esac
    if grep -qE "$want" <<<"$meta"; then pass "GET /v2 has \"$key\""; else fail "GET /v2 has \"$key\"" "$meta"; fi
  done
fi
url_host=127.0.0.1 check_req "GET /v2/health/live by IP (SAN IP:127.0.0.1)" 200 '^\{"live":true\}$' \
  /v2/health/live || true
check_req "GET /v2/health/live over TLS 1.2" 200 '^\{"live":true\}$' /v2/health/live --tls-max 1.2 || true

# 4. A second HTTP/2 implementation. nghttp does not verify the certificate, and it goes to 127.0.0.1 by number
# (so no SNI) since it has no way to pin what localhost resolves to.
rc=0
timeout 10 nghttp -v "https://127.0.0.1:$port/v2" >"$tmp/out" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
  fail "nghttp GET /v2" "exit $rc: $(tail -n 5 "$tmp/out")"
elif ! grep -aq ':status: 200' "$tmp/out"; then
  fail "nghttp GET /v2" "no ':status: 200' in: $(grep -a 'recv' "$tmp/out" | head -n 20)"
elif ! grep -aqiE 'recv .*content-type: application/json' "$tmp/out"; then
  fail "nghttp GET /v2" "no content-type: application/json"
else
  pass "nghttp GET /v2 (:status: 200)"
fi
rc=0
timeout 10 nghttp -v -m 20 "https://127.0.0.1:$port/v2/health/ready" >"$tmp/out" 2>&1 || rc=$?
n=$(grep -ac ':status: 200' "$tmp/out" || true)
if [ "$rc" -eq 0 ] && [ "$n" -eq 20 ]; then
  pass "nghttp 20 concurrent streams on one connection"
else
  fail "nghttp 20 concurrent streams on one connection" "exit $rc, $n of 20 answered 200"
fi

# 5. Unknown path and wrong method: JSON errors.
error_json='^\{.*"error":"([^"\\]|\\.)*".*\}$'
check_req "GET /v2/no/such/path -> 404" 404 "$error_json" /v2/no/such/path || true
check_req "GET / -> 404" 404 "$error_json" / || true
check_req "POST /v2/health/live -> 405" 405 "$error_json" /v2/health/live --data '{}' \
  -H 'content-type: application/json' || true
check_req "DELETE /v2 -> 405" 405 "$error_json" /v2 -X DELETE || true

# 6. Clients that do not speak h2 over TLS are turned away, and the gateway keeps serving.
expect_refused "curl --http1.1 refused" curl -q -sS --noproxy '*' --http1.1 --cacert "$tmp/ca.pem" \
  --resolve "localhost:$port:127.0.0.1" "https://localhost:$port/v2/health/live"
still_serving "curl --http1.1"
expect_refused "plain HTTP/1.1 refused" curl -q -sS --noproxy '*' "http://127.0.0.1:$port/v2/health/live"
still_serving "plain HTTP/1.1"
expect_refused "plain h2c (prior knowledge) refused" curl -q -sS --noproxy '*' --http2-prior-knowledge \
  "http://127.0.0.1:$port/v2/health/live"
still_serving "plain h2c"
expect_no_alpn "openssl s_client -alpn http/1.1 refused" -alpn http/1.1
still_serving "s_client -alpn http/1.1"
expect_no_alpn "openssl s_client without ALPN refused"
still_serving "s_client without ALPN"
# The lowered security level lets this client offer TLS 1.1 at all, so a refusal is the gateway's doing.
rc=0
s_client -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' -alpn h2 || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ! grep -aq '^ALPN protocol: h2' "$tmp/out"; then
  pass "TLS 1.1 refused (exit $rc)"
else
  fail "TLS 1.1 refused" "exit $rc: $(grep -aE '^ALPN|Protocol  :' "$tmp/out" | tr '\n' ' ')"
fi
still_serving "TLS 1.1"
rc=0
s_client -alpn h2 -verify_return_error || rc=$?
if [ "$rc" -eq 0 ] && grep -aq '^ALPN protocol: h2' "$tmp/out" &&
  grep -aq 'Verify return code: 0 (ok)' "$tmp/out"; then
  pass "openssl s_client -alpn h2 accepted and verified"
else
  fail "openssl s_client -alpn h2 accepted and verified" "exit $rc: $(grep -aE 'ALPN|Verify|error' "$tmp/out")"
fi

# 7. A client that does not trust the certificate stops at verification (curl's 60), before any request.
rc=0
curl_gw --http2 -o /dev/null "https://localhost:$port/v2/health/live" 2>"$tmp/err" || rc=$?
if [ "$rc" -eq 60 ]; then
  pass "untrusted certificate rejected by curl (exit 60)"
else
  fail "untrusted certificate rejected by curl" "exit $rc, want 60: $(head -c 200 "$tmp/err")"
fi
still_serving "an untrusting client"

# 8. 50 sequential connections, 20 at once, and 20 streams multiplexed on one connection, each bounded in time.
h2_live() { curl_gw --http2 --cacert "$tmp/ca.pem" -w '%{http_code} %{http_version}\n' "$@"; }
start=$SECONDS ok=0
for _ in $(seq 50); do
  [ $((SECONDS - start)) -le 60 ] || break
  got=$(h2_live -o /dev/null "https://localhost:$port/v2/health/live" 2>/dev/null) || true
  if [ "$got" = "200 2" ]; then ok=$((ok + 1)); fi
done
if [ "$ok" -eq 50 ] && [ $((SECONDS - start)) -le 60 ]; then
  pass "50 sequential requests ($((SECONDS - start)) s)"
else
  fail "50 sequential requests" "$ok of 50 answered 200 over HTTP/2 in $((SECONDS - start)) s (limit 60 s)"
fi
start=$SECONDS
burst=()
for i in $(seq 20); do
  h2_live -o /dev/null "https://localhost:$port/v2/health/ready" >"$tmp/burst.$i" 2>&1 &
  burst+=($!)
  bg_pids+=($!)
done
for p in "${burst[@]}"; do wait "$p" || true; done
bg_pids=()
ok=$(cat "$tmp"/burst.* | grep -c '^200 2$' || true)
if [ "$ok" -eq 20 ] && [ $((SECONDS - start)) -le 30 ]; then
  pass "20 parallel connections ($((SECONDS - start)) s)"
else
  fail "20 parallel connections" "$ok of 20 answered 200 over HTTP/2 in $((SECONDS - start)) s (limit 30 s)"
fi
urls=()
for _ in $(seq 20); do urls+=(-o /dev/null "https://localhost:$port/v2/health/live"); done
ok=$(h2_live --parallel --parallel-max 20 "${urls[@]}" 2>"$tmp/err" | grep -c '^200 2$' || true)
if [ "$ok" -eq 20 ]; then
  pass "20 parallel requests on one curl (multiplexed)"
else
  fail "20 parallel requests on one curl (multiplexed)" "$ok of 20 answered 200: $(head -c 200 "$tmp/err")"
fi

# 9. SIGTERM with an idle client connected (TLS done, no request): no request is in flight, so it must not hold
# the exit up.
: >"$tmp/idle"
timeout 20 openssl s_client -connect "127.0.0.1:$port" -servername localhost -CAfile "$tmp/ca.pem" -alpn h2 \
  -ign_eof </dev/null >"$tmp/idle" 2>&1 &
idle_pid=$!
bg_pids+=("$idle_pid")
deadline=$((SECONDS + 10))
while ! grep -aq '^ALPN protocol' "$tmp/idle" && [ "$SECONDS" -le "$deadline" ] && kill -0 "$idle_pid" 2>/dev/null; do
  sleep 0.1
done
if grep -aq '^ALPN protocol: h2' "$tmp/idle" && kill -0 "$idle_pid" 2>/dev/null; then
  pass "idle h2 connection open before SIGTERM"
else
  fail "idle h2 connection open before SIGTERM" "$(grep -aE 'ALPN|error' "$tmp/idle" | head -n 3)"
fi
kill -TERM "$gw_pid"
deadline=$((SECONDS + 10))
while kill -0 "$gw_pid" 2>/dev/null && [ "$SECONDS" -le "$deadline" ]; do sleep 0.1; done
if kill -0 "$gw_pid" 2>/dev/null; then
  fail "exit on SIGTERM" "still running 10 s after SIGTERM"
  kill -KILL "$gw_pid" 2>/dev/null || true
  wait "$gw_pid" 2>/dev/null || true
  gw_pid=
else
  rc=0
  wait "$gw_pid" || rc=$?
  gw_pid=
  if [ "$rc" -eq 0 ]; then pass "exit 0 on SIGTERM"; else fail "exit 0 on SIGTERM" "exit status $rc"; fi
  rc=0
  curl -q -sS --noproxy '*' --max-time 5 -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null || rc=$?
  if [ "$rc" -eq 7 ]; then
    pass "port closed after exit"
  else
    fail "port closed after exit" "curl exit $rc, want 7"
  fi
fi
wait "$idle_pid" || true
bg_pids=()

lines=$(wc -l <"$tmp/gw.out")
if [ "$lines" -eq 1 ]; then
  pass "stdout holds only the ready line"
else
  fail "stdout holds only the ready line" "$lines lines: $(head -n 5 "$tmp/gw.out" | tr '\n' '|')"
fi
if grep -qE 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:' "$tmp/gw.err"; then
  fail "no sanitizer reports from the gateway"
else
  pass "no sanitizer reports from the gateway"
fi
finish
