#!/usr/bin/env bash
# tests/tools: the hybrid demo (scripts/demo.sh, what make demo runs) end to end on a short phase list: it exits 0,
# every text read is the reference text, AUTO's placements use both the device and the edge, the offline phase
# completes on the device, and the gateway, the link emulator and the temporary folder are gone afterwards; then
# Ctrl-C (SIGINT to the demo's process group) in the middle of a run cleans up the same way. Every wait is bounded.
# Usage: test_demo.sh BIN_DIR SOURCE_DIR   (models from $CLEAVE_MODELS)
set -u
bin=$1 src=$2
for c in timeout setsid openssl; do
  command -v "$c" >/dev/null 2>&1 || { echo "FAIL $c not found"; exit 1; }
done
if [ -z "${CLEAVE_MODELS:-}" ] || [ ! -f "$CLEAVE_MODELS/ch_PP-OCRv4_rec_infer.onnx" ]; then
  echo "SKIP set CLEAVE_MODELS to the folder scripts/fetch-models.sh fills"
  exit 77
fi
tmp=$(mktemp -d)
pgid=
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  if [ -n "$pgid" ]; then kill -KILL -- "-$pgid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
passes=0 fails=0
pass() { passes=$((passes + 1)) && echo "PASS $1"; }
fail() { fails=$((fails + 1)) && echo "FAIL $1${2:+: $2}"; }
# the demo's own temporary folder and caches go under $tmp/scratch, so that what it leaves behind can be seen
mkdir -p "$tmp/scratch"
unset CLEAVE_CACHE_DIR

# closed PORT: nothing listens on 127.0.0.1:PORT any more.
closed() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# no_leftovers NAME FILE: the ports the demo printed in FILE are closed and its temporary folder is gone.
no_leftovers() {
  local line ports p open=
  line=$(grep -m1 '^demo: cleave-gateway' "$2")
  ports=$(grep -oE '127\.0\.0\.1:[0-9]+|control port [0-9]+' <<<"$line" | grep -oE '[0-9]+$')
  for p in $ports; do closed "$p" || open="$open $p"; done
  if [ -z "$line" ]; then
    fail "$1: ports closed" "no 'demo: cleave-gateway ...' line"
  elif [ -n "$open" ]; then
    fail "$1: ports closed" "still listening on$open"
  else
    pass "$1: gateway, link and control ports closed ($(tr '\n' ' ' <<<"$ports"))"
  fi
  if [ -n "$(ls -A "$tmp/scratch")" ]; then
    fail "$1: temporary folder removed" "left: $(ls -A "$tmp/scratch")"
  else
    pass "$1: temporary folder removed"
  fi
}

# ---- a short run ----
rc=0
TMPDIR=$tmp/scratch timeout -k 10 360 "$src/scripts/demo.sh" --bin "$bin" --models "$CLEAVE_MODELS" -- \
  --phases wifi,offline,wifi --requests-per-phase 3 --compare 1 >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
sed 's/^/  | /' "$tmp/out"
if [ "$rc" -eq 0 ]; then
  pass "demo exits 0"
else
  fail "demo exits 0" "exit $rc$([ "$rc" -eq 124 ] && echo ' (timed out)'); stderr: $(tail -n 5 "$tmp/err")"
fi
if grep -q 'the device side runs on the .ref. backend ON PURPOSE' "$tmp/out"; then
  pass "says that the device is emulated with the ref backend"
else
  fail "says that the device is emulated with the ref backend"
fi

# AUTO's lines: "  PHASE  R/N  auto  det X | cls Y | rec Z   MS ms  MJ mJ  text ok"
auto=$(grep -E '^  [a-z0-9]+ +[0-9]+/[0-9]+ +auto ' "$tmp/out")
n_auto=$(grep -c . <<<"$auto")
if [ "$n_auto" -eq 9 ]; then pass "9 AUTO requests printed"; else fail "9 AUTO requests printed" "got $n_auto"; fi
if grep -qE 'text (WRONG|ok)' "$tmp/out" && ! grep -q 'text WRONG' "$tmp/out" && ! grep -q 'FAILED' "$tmp/out"; then
  pass "no request failed or read the wrong text"
else
  fail "no request failed or read the wrong text" "$(grep -E 'WRONG|FAILED' "$tmp/out" | head -n 3)"
fi
total=$(grep -oE '^text: [0-9]+ of [0-9]+ ' "$tmp/out")
if [[ $total =~ ^text:\ ([0-9]+)\ of\ ([0-9]+)\ $ ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] &&
  [ "${BASH_REMATCH[1]}" -ge 9 ]; then
  pass "every text matched the reference ($total)"
else
  fail "every text matched the reference" "closing line '$total'"
fi

# placements: the part of a line between the mode and the latency, with "(... fell back)" and "(... hedged)" gone
placements() { sed -E 's/^ +[a-z0-9]+ +[0-9]+\/[0-9]+ +[a-z-]+ +//; s/ +[0-9.]+ ms .*$//; s/\([^)]*\)//g'; }
if placements <<<"$auto" | grep -qw edge && placements <<<"$auto" | grep -qw device; then
  pass "AUTO placed work on both the device and the edge"
else
  fail "AUTO placed work on both the device and the edge" "$(placements <<<"$auto" | sort | uniq -c | tr '\n' ';')"
fi
offline=$(grep -E '^  offline +[0-9]+/[0-9]+ +auto ' <<<"$auto")
if [ "$(grep -c . <<<"$offline")" -eq 3 ] && ! placements <<<"$offline" | grep -qw edge &&
  ! grep -q FAILED <<<"$offline"; then
  pass "the offline phase completed on the device (3 requests)"
else
  fail "the offline phase completed on the device" "$offline"
fi
if grep -qE '^  offline +[0-9]+/[0-9]+ +all-edge ' "$tmp/out"; then
  pass "all-edge ran in the offline phase too ($(grep -E '^  offline .* all-edge ' "$tmp/out" | grep -oE 'FAILED|fell back|hedged' | sort -u | xargs))"
else
  fail "all-edge ran in the offline phase too"
fi
if grep -qE '^  overall ' "$tmp/out" && grep -q '^auto against all-local' "$tmp/out" &&
  grep -q '^auto against all-edge' "$tmp/out"; then
  pass "summary against all-local and all-edge"
else
  fail "summary against all-local and all-edge"
fi
no_leftovers "after the run" "$tmp/out"

# ---- Ctrl-C in the middle ----
# A job started with & ignores SIGINT, and so would everything it starts: env puts the default action back, as a
# terminal's foreground job has it, and setsid gives the demo a process group of its own to send Ctrl-C's SIGINT to.
: >"$tmp/out2"
TMPDIR=$tmp/scratch setsid env --default-signal=INT "$src/scripts/demo.sh" --bin "$bin" --models "$CLEAVE_MODELS" -- \
  --phases wifi,lte --requests-per-phase 50 --compare 0 >"$tmp/out2" 2>"$tmp/err2" </dev/null &
pid=$! pgid=$!
deadline=$((SECONDS + 120))
while ! grep -qE '^  wifi +1/' "$tmp/out2" && kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
  sleep 0.2
done
if grep -qE '^  wifi +1/' "$tmp/out2"; then
  kill -INT -- "-$pgid" 2>/dev/null
  deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    fail "Ctrl-C: the demo exits" "still running 30 s after SIGINT"
  else
    rc=0
    wait "$pid" || rc=$?
    if [ "$rc" -eq 130 ]; then pass "Ctrl-C: the demo exits 130"; else fail "Ctrl-C: the demo exits 130" "exit $rc"; fi
  fi
  no_leftovers "after Ctrl-C" "$tmp/out2"
else
  fail "Ctrl-C: the demo got to its first request" "$(tail -n 5 "$tmp/err2")"
fi
kill -KILL -- "-$pgid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pgid=

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
