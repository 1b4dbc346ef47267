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

# shellcheck source=gw_lib.sh
. "$(dirname "$0")/gw_lib.sh"
make_certs
start_gateway

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
