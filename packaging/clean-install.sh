#!/usr/bin/env bash
# The .deb on a clean machine: a minimal Debian 12 (debootstrap --variant=minbase, nothing of this machine's) in a
# chroot, the package installed there with apt as a user would (its dependencies and recommends from the archive),
# then the app started from it as an ordinary user under Xvfb: it must stay up, draw its window, write its data dir,
# and exit on SIGTERM. Needs root, network access to the Debian archive and about 600 MB under the target dir; takes
# two to three minutes. Not part of .ci/run (it downloads a whole base system each time); run it by hand:
#   bash packaging/clean-install.sh [path/to/watchfloor_*.deb]      (default: the one `cargo deb` made)
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
deb=${1:-$(ls -t "$target"/debian/watchfloor_*.deb | head -1)}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$(realpath "$target")/clean-install
fail() { echo "clean-install: FAIL: $*" >&2; exit 1; }

command -v debootstrap >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
cleanup() {
  for m in dev/pts dev proc; do mountpoint -q "$root/$m" && umount "$root/$m"; done
  rm -rf "$root"
}
trap cleanup EXIT
cleanup
echo "clean-install: debootstrap bookworm (minbase) into $root"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$target/clean-install.log" 2>&1 \
  || { tail -20 "$target/clean-install.log" >&2; fail "debootstrap"; }
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
cp "$deb" "$root/root/"

cat >"$root/root/check.sh" <<'INNER'
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive NO_COLOR=1
apt-get update -qq
before=$(dpkg-query -W | wc -l)
apt-get install -y "/root/$1" >/root/install.log 2>&1 || { cat /root/install.log; exit 1; }
echo "clean-install: installed $1 on a base of $before packages, with $(($(dpkg-query -W | wc -l) - before - 1)) dependencies"
# Only the test's own tools from here; without recommends, so that they bring in as little as they can.
apt-get install -y -qq --no-install-recommends xvfb imagemagick x11-utils >/dev/null 2>&1
useradd -m viewer
Xvfb :77 -screen 0 1600x1000x24 -nolisten tcp >/tmp/xvfb.log 2>&1 &
for _ in $(seq 50); do [ -e /tmp/.X11-unix/X77 ] && break; sleep 0.1; done
su viewer -c 'DISPLAY=:77 watchfloor >/tmp/app.log 2>&1 & echo $! >/tmp/app.pid'
sleep 10
app=$(cat /tmp/app.pid)
kill -0 "$app" || { cat /tmp/app.log; echo "clean-install: FAIL: the app died"; exit 1; }
DISPLAY=:77 import -window root /tmp/shot.png
colours=$(identify -format '%k' /tmp/shot.png)
DISPLAY=:77 xwininfo -root -tree | grep -q '"Watchfloor"' || { echo "clean-install: FAIL: no Watchfloor window"; exit 1; }
[ "$colours" -ge 64 ] || { echo "clean-install: FAIL: blank screen ($colours colours)"; exit 1; }
kill -TERM "$app"
for _ in $(seq 50); do kill -0 "$app" 2>/dev/null || break; sleep 0.1; done
kill -0 "$app" 2>/dev/null && { echo "clean-install: FAIL: no exit on SIGTERM"; exit 1; }
[ -s /home/viewer/.local/share/watchfloor/history.sqlite ] || { echo "clean-install: FAIL: no history cache"; exit 1; }
echo "clean-install: the app started from the package as an ordinary user: window \"Watchfloor\", $colours colours, exited on SIGTERM, history cache written"
kill %1
INNER
chroot "$root" bash /root/check.sh "$(basename "$deb")"
cp "$root/tmp/shot.png" "$target/clean-install-shot.png"
echo "clean-install: ok (screenshot: $target/clean-install-shot.png)"
