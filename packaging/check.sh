#!/usr/bin/env bash
# CI's packaging checks, run by .ci/run after the release build and its smoke test (root, with apt). Builds the .deb
# from the release binary and installs it on this machine, then checks: the files it installed; the recorder's unit
# with `systemd-analyze verify`; the desktop file; the installed binary (--version, and the window smoke test under
# Xvfb); the recorder run as the unit runs it (its user, environment, working and data dir), once with the shipped
# config (it must refuse: no gateway) and once with a demo gateway (it must write its cache in /var/lib/watchfloor).
# Then builds the tarball, unpacks it into a temp dir, runs the binary from it and its install.sh under a prefix.
# Safe to run again: the package is reinstalled over itself, local edits of /etc/watchfloor/config.toml are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1
started=$SECONDS
target=${CARGO_TARGET_DIR:-target}
fail() { echo "packages: FAIL: $*" >&2; exit 1; }

cargo_deb_version=3.8.0
if ! cargo deb --version 2>/dev/null | grep -qF "$cargo_deb_version"; then
  echo "packages: installing cargo-deb $cargo_deb_version"
  cargo install cargo-deb --version "$cargo_deb_version" --locked --target-dir "$target/cargo-deb-build"
fi

# --- The .deb ---------------------------------------------------------------------------------------------------
deb=$(cargo deb --no-build --quiet | tail -1)
[ -f "$deb" ] || fail "cargo deb made no package ($deb)"
deb=$(realpath "$deb")
echo "packages: built $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --field "$deb" Depends

# --reinstall: the same version again (CI runs twice, or a rebuilt binary) is installed over the old one.
# confold: a site's edited /etc/watchfloor/config.toml is kept without asking.
install_deb() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$deb" >"$target/deb-install.log" 2>&1
}
install_deb || { apt-get update -qq && install_deb; } || { cat "$target/deb-install.log" >&2; fail "apt-get install $deb"; }

unit=/usr/lib/systemd/system/watchfloor-recorder.service
installed=$(dpkg -L watchfloor)
for file in /usr/bin/watchfloor /usr/share/applications/watchfloor.desktop "$unit" /etc/watchfloor/config.toml \
  /usr/share/icons/hicolor/{16x16,24x24,32x32,48x48,64x64,128x128,256x256,512x512}/apps/watchfloor.png \
  /usr/share/icons/hicolor/scalable/apps/watchfloor.svg \
  /usr/share/doc/watchfloor/{README.md,copyright,example-config.toml}; do
  grep -qxF "$file" <<<"$installed" || fail "the package does not install $file"
  [ -f "$file" ] || fail "$file is listed by dpkg -L but missing"
done
dpkg-query -W -f='${Conffiles}\n' watchfloor | grep -q ' /etc/watchfloor/config.toml ' \
  || fail "/etc/watchfloor/config.toml is not a conffile"
echo "packages: dpkg -L lists $(grep -c . <<<"$installed") paths, every expected file among them"

getent passwd watchfloor >/dev/null || fail "postinst made no user watchfloor"
[ "$(stat -c %U:%a /var/lib/watchfloor)" = watchfloor:750 ] || fail "/var/lib/watchfloor: $(stat -c %U:%a /var/lib/watchfloor)"
systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
echo "packages: systemd-analyze verify: ok; $(systemd-analyze security --offline=true "$unit" 2>&1 | grep -i 'overall exposure')"
desktop-file-validate /usr/share/applications/watchfloor.desktop || fail "desktop-file-validate"

version=$(/usr/bin/watchfloor --version) || fail "/usr/bin/watchfloor --version"
[ "$version" = "watchfloor $(dpkg-query -W -f='${Version}' watchfloor | sed 's/-[^-]*$//')" ] \
  || fail "/usr/bin/watchfloor --version says $version"
WATCHFLOOR_BIN=/usr/bin/watchfloor SMOKE_DIR="$target/smoke-deb" bash tests/smoke.sh

# The recorder as its unit runs it: ExecStart, Environment= lines and WorkingDirectory= from the installed unit,
# as its user. (Without systemd as PID 1 here, the sandboxing options themselves are not exercised.)
read -ra exec_start <<<"$(sed -n 's/^ExecStart=//p' "$unit")"
mapfile -t unit_env < <(sed -n 's/^Environment=//p' "$unit")
workdir=$(sed -n 's/^WorkingDirectory=//p' "$unit")
home=$(getent passwd watchfloor | cut -d: -f6)
as_unit() { (cd "$workdir" && runuser -u watchfloor -- env -i PATH=/usr/bin:/bin HOME="$home" "${unit_env[@]}" "$@"); }
work=$(mktemp -d)
trap 'rm -rf "$work"; rm -f /var/lib/watchfloor/ci-check.sqlite*' EXIT
chmod 755 "$work"

shipped=$(dpkg-query -W -f='${Conffiles}\n' watchfloor | awk '$1 == "/etc/watchfloor/config.toml" {print $2}')
if [ "$(md5sum </etc/watchfloor/config.toml | cut -d' ' -f1)" = "$shipped" ]; then
  set +e
  as_unit "${exec_start[@]}" --duration 2s 2>"$work/refused.log"
  status=$?
  set -e
  [ "$status" = 78 ] && grep -q "nothing to record" "$work/refused.log" \
    || { cat "$work/refused.log" >&2; fail "the recorder with the shipped config exited $status, expected 78 (no gateway)"; }
  echo "packages: the recorder refuses the shipped config (no gateway yet): exit 78"
else
  echo "packages: /etc/watchfloor/config.toml was edited on this machine; not starting the recorder with it"
fi

printf '[[gateway]]\nname = "demo"\nkind = "sim"\nspeed = 20\n' >"$work/demo.toml"
chmod 644 "$work/demo.toml"
demo_start=("${exec_start[@]/\/etc\/watchfloor\/config.toml/$work/demo.toml}")
demo_start=("${demo_start[@]/history.sqlite/ci-check.sqlite}")
as_unit "${demo_start[@]}" --duration 3s 2>"$work/record.log" || { cat "$work/record.log" >&2; fail "the recorder failed"; }
[ "$(stat -c %U /var/lib/watchfloor/ci-check.sqlite)" = watchfloor ] || fail "the recorder wrote no cache in /var/lib/watchfloor"
signals=$(as_unit /usr/bin/watchfloor signals --db /var/lib/watchfloor/ci-check.sqlite | wc -l)
[ "$signals" -ge 400 ] || fail "the recorder's cache holds $signals signals, expected the demo's 500"
echo "packages: the recorder, run as the unit runs it, recorded $signals signals into /var/lib/watchfloor"

# --- The tarball -------------------------------------------------------------------------------------------------
tarball=$(bash packaging/tarball.sh)
tar -xzf "$tarball" -C "$work"
dir=$work/$(basename "$tarball" .tar.gz)
[ "$("$dir/bin/watchfloor" --version)" = "$version" ] || fail "the tarball's binary"
"$dir/bin/watchfloor" record --db "$work/tarball.sqlite" --duration 2s --speed 20 2>"$work/tarball.log" \
  || { cat "$work/tarball.log" >&2; fail "the tarball's binary cannot record"; }
signals=$("$dir/bin/watchfloor" signals --db "$work/tarball.sqlite" | wc -l)
[ "$signals" -ge 400 ] || fail "the tarball's binary recorded $signals signals"
"$dir/install.sh" --prefix "$work/prefix" >/dev/null
[ "$("$work/prefix/bin/watchfloor" --version)" = "$version" ] || fail "install.sh --prefix"
for file in share/applications/watchfloor.desktop share/icons/hicolor/48x48/apps/watchfloor.png \
  share/icons/hicolor/scalable/apps/watchfloor.svg share/doc/watchfloor/README.md share/watchfloor/site-recorder.toml; do
  [ -f "$work/prefix/$file" ] || fail "install.sh did not install $file"
done
grep -qxF "ExecStart=$work/prefix/bin/watchfloor record --config /etc/watchfloor/config.toml --db /var/lib/watchfloor/history.sqlite" \
  "$work/prefix/share/watchfloor/watchfloor-recorder.service" || fail "install.sh did not point the unit at its binary"
echo "packages: built $tarball ($(du -h "$tarball" | cut -f1)); from it: --version, record ($signals signals), install.sh --prefix"

echo "packages: ok in $((SECONDS - started)) s"
