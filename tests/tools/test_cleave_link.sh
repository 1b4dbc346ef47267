#!/usr/bin/env bash
# tests/tools: cleave-link's command line and control port, with real peers (python3) on 127.0.0.1: usage errors
# exit 2 with a message, the bound ports on the first line, the control protocol (ok/error, stats JSON, long
# lines), a shaped echo through the binary, cut and restore, a schedule, and a clean exit on SIGTERM and SIGINT.
# Usage: test_cleave_link.sh BIN_DIR
set -u
bin="$1/cleave-link"
for c in python3 timeout; do
  command -v "$c" >/dev/null 2>&1 || { echo "FAIL $c not found"; exit 1; }
done
[ -x "$bin" ] || { echo "FAIL $bin does not exist or is not executable"; exit 1; }
tmp=$(mktemp -d)
pids=()
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local p
  for p in "${pids[@]}"; do
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

# ---- peers: an echo server, a control client, a timed echo client, a client that expects a reset ----
cat >"$tmp/peer.py" <<'EOF'
import hashlib, os, socket, sys, threading, time

def echo_server():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    print(s.getsockname()[1], flush=True)
    def serve(c):
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    c.shutdown(socket.SHUT_WR)
                    break
                c.sendall(b)
        except OSError:
            pass
        c.close()
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()

def control(port, lines):
    c = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
    f = c.makefile("rb")
    for line in lines:
        c.sendall(line.encode() + b"\n")
        print(f.readline().decode().rstrip("\n"), flush=True)

def echo(port, n):
    data = os.urandom(int(n))
    c = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    t0 = time.time()
    threading.Thread(target=lambda: (c.sendall(data), c.shutdown(socket.SHUT_WR)), daemon=True).start()
    got = bytearray()
    while True:
        b = c.recv(65536)
        if not b:
            break
        got += b
    same = hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    print("%.3f %s %d" % (time.time() - t0, "same" if same else "DIFFERENT", len(got)), flush=True)

def expect_reset(port, go):
    try:  # a relay that resets at once may do so before connect() returns
        c = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
    except ConnectionResetError:
        print("reset")
        return
    print("connected", flush=True)
    end = time.time() + 10
    while go and not os.path.exists(go) and time.time() < end:  # the test causes the reset, then says go
        time.sleep(0.02)
    try:
        c.sendall(b"x")
        while c.recv(100):
            pass
        print("eof")
    except (ConnectionResetError, BrokenPipeError):
        print("reset")
    except socket.timeout:
        print("timeout")

cmd = sys.argv[1]
if cmd == "echo-server": echo_server()
elif cmd == "control": control(sys.argv[2], sys.argv[3:])
elif cmd == "echo": echo(sys.argv[2], sys.argv[3])
elif cmd == "expect-reset": expect_reset(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
EOF
peer() { timeout 20 python3 "$tmp/peer.py" "$@"; }
wait_for() { # file, text: up to 5 s for the text to appear in the file
  for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}

check() { # name, expected exit code, expected text on stderr, args...
  local name=$1 want=$2 text=$3
  shift 3
  timeout 10 "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" -ne "$want" ]; then
    fail "$name" "exit $got, want $want: $(head -c 300 "$tmp/err")"
  elif ! grep -qF -- "$text" "$tmp/err"; then
    fail "$name" "'$text' not in: $(head -c 300 "$tmp/err")"
  else
    pass "$name"
  fi
}

# ---- bad arguments ----
L=(--listen 127.0.0.1:0 --target 127.0.0.1:9)
check "no arguments" 2 "--listen and --target are required"
check "usage on no arguments" 2 "usage: cleave-link"
check "a name, not a number" 2 "'localhost' is not a numeric IPv4 address" --listen 127.0.0.1:0 --target localhost:80
check "no port" 2 "is not HOST:PORT" --listen 127.0.0.1 --target 127.0.0.1:9
check "port out of range" 2 "the port must be 0-65535" --listen 127.0.0.1:70000 --target 127.0.0.1:9
check "bad rate" 2 "--rate: 'fast' is not a number" "${L[@]}" --rate fast
check "rate out of range" 2 "out of range" "${L[@]}" --up-rate 1e9
check "bad loss" 2 "loss 1.5 is out of range" "${L[@]}" --loss 1.5
check "bad delay" 2 "out of range" "${L[@]}" --rtt-ms -4
check "bad preset" 2 "unknown preset '5g'" "${L[@]}" --preset 5g
check "missing trace" 2 "/nonexistent/x.up" "${L[@]}" --up-trace /nonexistent/x.up
check "bad queue" 2 "--queue-bytes: '10' is not a whole number from 4096" "${L[@]}" --queue-bytes 10
check "control not on loopback" 2 "loopback" "${L[@]}" --control 10.1.2.3:0
check "bad step" 2 "--at: unknown command 'warp'" "${L[@]}" --at '3 warp 9'
check "bad step time" 2 "expected 'SECONDS COMMAND'" "${L[@]}" --at 'later rate 8'
printf '# demo\n0 preset wifi\n\n2 preset 3g\n3 rate up=oops\n' >"$tmp/bad.sched"
check "bad schedule line" 2 "bad.sched:5: rate: 'oops' is not a number" "${L[@]}" --schedule "$tmp/bad.sched"
check "missing schedule" 2 "/nonexistent.sched" "${L[@]}" --schedule /nonexistent.sched
check "unknown option" 2 "usage: cleave-link" "${L[@]}" --frobnicate
check "stray argument" 2 "unexpected argument 'extra'" "${L[@]}" extra
timeout 5 "$bin" --help >"$tmp/help" 2>&1 && grep -q "examples:" "$tmp/help" && pass "help" || fail "help"

# ---- a target, and the relay on port 0 ----
peer echo-server >"$tmp/echo.port" 2>"$tmp/echo.err" &
pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/echo.port" ] && break; sleep 0.1; done
echo_port=$(head -1 "$tmp/echo.port")
[ -n "$echo_port" ] || { fail "echo server" "no port"; exit 1; }

# the listen port taken: exit 1
check "port in use" 1 "listen on 127.0.0.1:$echo_port" --listen "127.0.0.1:$echo_port" --target 127.0.0.1:9
check "control port in use" 1 "control on 127.0.0.1:$echo_port" "${L[@]}" --control "127.0.0.1:$echo_port"

starts=0
start_relay() { # extra args...; sets relay_pid, port, control, and relay_err (its stderr)
  starts=$((starts + 1))
  local out="$tmp/relay$starts.out" line
  relay_err="$tmp/relay$starts.err"
  "$bin" --listen 127.0.0.1:0 --target "127.0.0.1:$echo_port" --control 127.0.0.1:0 "$@" >"$out" 2>"$relay_err" &
  relay_pid=$!
  pids+=("$relay_pid")
  for _ in $(seq 50); do [ -s "$out" ] && break; sleep 0.1; done
  line=$(head -1 "$out")
  if [[ "$line" =~ ^listening\ 127\.0\.0\.1:([0-9]+)\ control\ 127\.0\.0\.1:([0-9]+)$ ]]; then
    port=${BASH_REMATCH[1]} control=${BASH_REMATCH[2]}
    pass "first line '$line'"
  else
    fail "first line" "'$line'"
    exit 1
  fi
}

stop_relay() { # signal, name
  kill "-$1" "$relay_pid"
  local rc=0
  timeout 5 tail --pid="$relay_pid" -f /dev/null || rc=$?
  wait "$relay_pid"
  local st=$?
  if [ "$rc" -ne 0 ]; then fail "$2" "still running 5 s after SIG$1"
  elif [ "$st" -ne 0 ]; then fail "$2" "exit $st: $(tail -3 "$relay_err")"
  elif grep -q "handles left open" "$relay_err"; then fail "$2" "handles left open"
  else pass "$2"; fi
}

start_relay --preset lte
peer control "$control" "rate up=8 down=unlimited" "bogus" "$(printf 'x%.0s' $(seq 1100))" "loss 2" \
  "rtt 10" "stats" >"$tmp/replies"
mapfile -t r <"$tmp/replies"
[ "${r[0]:-}" = "ok up rate=8 delay=25 loss=0 down rate=unlimited delay=25 loss=0" ] && pass "rate reply" ||
  fail "rate reply" "${r[0]:-}"
[ "${r[1]:-}" = "error unknown command 'bogus' (try help)" ] && pass "unknown command" || fail "unknown command" "${r[1]:-}"
[ "${r[2]:-}" = "error line longer than 1024 bytes" ] && pass "long line" || fail "long line" "${r[2]:-}"
[[ "${r[3]:-}" == "error loss: 2 is out of range"* ]] && pass "bad loss reply" || fail "bad loss reply" "${r[3]:-}"
[[ "${r[4]:-}" == "ok up rate=8 delay=5 "* ]] && pass "rtt reply" || fail "rtt reply" "${r[4]:-}"
if python3 -c 'import json,sys; s=json.loads(sys.argv[1][3:]); assert s["up"]["rate_mbps"] == 8 and s["down"]["rate_mbps"] is None and s["up"]["delay_ms"] == 5 and s["connections"]["open"] == 0' "${r[5]:-}" 2>"$tmp/json.err"; then
  pass "stats JSON"
else
  fail "stats JSON" "${r[5]:-} $(cat "$tmp/json.err")"
fi

# 1 MB echoed: 1 s up at 8 Mbit/s, unlimited down, 10 ms RTT
read -r secs same n < <(peer echo "$port" 1000000)
if [ "${same:-}" = same ] && [ "${n:-0}" -eq 1000000 ] && python3 -c "import sys; sys.exit(not 0.7 <= $secs <= 1.6)"; then
  pass "1 MB echoed through rate up=8 in $secs s, bytes intact"
else
  fail "shaped echo" "${secs:-} ${same:-} ${n:-}"
fi

# cut resets an open connection, and new ones, until restore
peer expect-reset "$port" "$tmp/go1" >"$tmp/hold1" &
hold=$!
pids+=("$hold")
wait_for "$tmp/hold1" connected || fail "held connection" "$(cat "$tmp/hold1")"
sleep 0.2 # past the connection's handshake delay
[[ "$(peer control "$control" cut)" == ok* ]] && pass "cut reply" || fail "cut reply"
touch "$tmp/go1"
wait "$hold"
[ "$(tail -1 "$tmp/hold1")" = reset ] && pass "cut resets an open connection" ||
  fail "cut resets an open connection" "$(cat "$tmp/hold1")"
out=$(peer expect-reset "$port" | tail -1)
[ "$out" = reset ] && pass "cut resets a new connection" || fail "cut resets a new connection" "$out"
[[ "$(peer control "$control" restore)" == *"cut=0 stalled=0" ]] && pass "restore reply" || fail "restore reply"
read -r secs same n < <(peer echo "$port" 1000)
[ "${same:-}" = same ] && pass "restore accepts again" || fail "restore accepts again" "${secs:-} ${same:-}"

# SIGTERM with a connection open: everything closes, exit 0
peer expect-reset "$port" "$tmp/go2" >"$tmp/hold2" &
pids+=($!)
wait_for "$tmp/hold2" connected || fail "second held connection"
sleep 0.1
stop_relay TERM "SIGTERM with a connection open: exit 0"
touch "$tmp/go2"

# a schedule: steps from a file and --at, in time order
printf '# a demo\n0 preset wifi\n0.8 preset 3g\n' >"$tmp/demo.sched"
start_relay --schedule "$tmp/demo.sched" --at '1.2 stall'
sleep 0.2
s1=$(peer control "$control" stats)
sleep 1.4
s2=$(peer control "$control" stats)
if python3 -c '
import json, sys
a, b = (json.loads(x[3:]) for x in sys.argv[1:])
assert a["up"]["rate_mbps"] == 18.88 and a["down"]["rate_mbps"] == 50 and a["up"]["delay_ms"] == 10, a
assert not a["stalled"], a
assert b["up"]["rate_mbps"] == 1.1 and b["down"]["rate_mbps"] == 2 and b["up"]["delay_ms"] == 60, b
assert b["stalled"], b' "$s1" "$s2" 2>"$tmp/sched.err"; then
  pass "schedule: wifi, then 3g at 0.8 s, stalled at 1.2 s"
else
  fail "schedule" "$(tail -2 "$tmp/sched.err")"
fi
grep -q "at 0.8 s: preset 3g: ok" "$relay_err" && pass "schedule logged" || fail "schedule logged"
stop_relay INT "SIGINT: exit 0"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
