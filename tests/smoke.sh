#!/usr/bin/env bash
# Smoke test: the release binary in a real window under Xvfb, with an empty data dir and no config.
# Fails if the process dies, if the screenshot is blank, if the demo does not change between two screenshots, if no
# log file is written, if the idle window spins the CPU, if SIGTERM does not close it cleanly, or if the history cache
# it recorded is unreadable. Screenshots are left in target/smoke/.
# WATCHFLOOR_BIN tests another binary (CI: the one the .deb installed) and SMOKE_DIR puts its files elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1  # plain log lines to grep

bin=${WATCHFLOOR_BIN:-${CARGO_TARGET_DIR:-target}/release/watchfloor}
out=${SMOKE_DIR:-target/smoke}
rm -rf "$out"
mkdir -p "$out/data"

fail() {
  echo "smoke: FAIL: $*" >&2
  echo "--- app log ---" >&2
  cat "$out/app.log" >&2 || true
  exit 1
}

# A display number nobody uses.
for n in $(seq 90 130); do
  if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then display=":$n"; break; fi
done
[ -n "${display:-}" ] || fail "no free X display number"

Xvfb "$display" -screen 0 1600x1000x24 -nolisten tcp >"$out/xvfb.log" 2>&1 &
xvfb_pid=$!
app_pid=""
cleanup() {
  [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
  kill "$xvfb_pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done
[ -e "/tmp/.X11-unix/X${display#:}" ] || fail "Xvfb did not start"

DISPLAY="$display" "$bin" --data-dir "$out/data" >"$out/app.log" 2>&1 &
app_pid=$!

sleep 6
kill -0 "$app_pid" 2>/dev/null || fail "the app died during start-up"
DISPLAY="$display" import -window root "$out/shot1.png"

# CPU used by the app over 5 s with the demo running at 1 Hz (clock ticks and data at up to 10 repaints/s).
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$app_pid/stat"; }
c0=$(cpu); sleep 5; c1=$(cpu)
cpu_fraction=$(awk -v a="$c0" -v b="$c1" -v t="$ticks" 'BEGIN { printf "%.2f", (b - a) / t / 5 }')

kill -0 "$app_pid" 2>/dev/null || fail "the app died while running"
DISPLAY="$display" import -window root "$out/shot2.png"

colours=$(identify -format '%k' "$out/shot1.png")
[ "$colours" -ge 64 ] || fail "the first screenshot is blank ($colours colours)"
changed=$(compare -metric AE "$out/shot1.png" "$out/shot2.png" null: 2>&1 || true)
changed=${changed%% *}
[ "${changed%.*}" -ge 200 ] || fail "the demo did not change between screenshots ($changed pixels differ)"
ls "$out"/data/logs/watchfloor*.log >/dev/null 2>&1 || fail "no log file in the data dir"
awk -v f="$cpu_fraction" 'BEGIN { exit !(f < 0.8) }' || fail "the window uses $cpu_fraction of a core: it spins"

# SIGTERM closes the window the normal way: history flushed, the process gone within 5 s.
kill -TERM "$app_pid"
for _ in $(seq 50); do kill -0 "$app_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$app_pid" 2>/dev/null && fail "the app did not exit on SIGTERM"
wait "$app_pid" || fail "the app exited with an error on SIGTERM"
app_pid=""
grep -q "history writer stopped" "$out/app.log" || fail "the history writer did not stop cleanly"
signals=$("$bin" signals --db "$out/data/history.sqlite" | wc -l)
[ "$signals" -ge 400 ] || fail "the history cache holds $signals signals, expected the demo's 500"
first_frame=$(sed -n 's/.*first frame drawn.*ms=\([0-9]*\).*/\1/p' "$out/app.log" | head -1)

echo "smoke: ok — $colours colours, $changed pixels changed in 5 s, app CPU $cpu_fraction of one core (software GL)," \
  "first frame after ${first_frame:-?} ms, $signals signals in the history cache"
echo "1 passed, 0 failed"
