#!/usr/bin/env bash
# Smoke test: the release binary in a real window under Xvfb, with an empty data dir and no config.
# Fails if the process dies, if the screenshot is blank, if the demo does not change between two screenshots, if no
# log file is written, or if the idle window spins the CPU. Screenshots are left in target/smoke/.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release/watchfloor
out=target/smoke
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

echo "smoke: ok — $colours colours, $changed pixels changed in 5 s, app CPU $cpu_fraction of one core (software GL)"
echo "1 passed, 0 failed"
