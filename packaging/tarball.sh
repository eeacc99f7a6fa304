#!/usr/bin/env bash
# Packs the release binary with its desktop file, icons, recorder unit, configs and docs into
# <target dir>/dist/watchfloor-<version>-<arch>-linux.tar.gz, for distributions without dpkg. The archive unpacks
# into one directory with an install.sh (packaging/install.sh). Build the binary first: cargo build --release --locked
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
bin=$target/release/watchfloor
[ -x "$bin" ] || { echo "tarball: no $bin; run cargo build --release --locked first" >&2; exit 1; }
version=$("$bin" --version | awk '{print $2}')
name=watchfloor-$version-$(uname -m)-linux
stage=$target/dist/$name
rm -rf "$stage" "$stage.tar.gz"
mkdir -p "$stage"

install -Dm755 "$bin" "$stage/bin/watchfloor"
install -Dm755 packaging/install.sh "$stage/install.sh"
install -Dm644 packaging/watchfloor.desktop "$stage/share/applications/watchfloor.desktop"
for png in icons/hicolor/*/apps/watchfloor.png; do
  install -Dm644 "$png" "$stage/share/icons/${png#icons/}"
done
install -Dm644 icons/watchfloor.svg "$stage/share/icons/hicolor/scalable/apps/watchfloor.svg"
install -Dm644 packaging/debian/watchfloor-recorder.service "$stage/share/watchfloor/watchfloor-recorder.service"
install -Dm644 packaging/site-recorder.toml "$stage/share/watchfloor/site-recorder.toml"
install -Dm644 assets/example-config.toml "$stage/share/doc/watchfloor/example-config.toml"
install -Dm644 README.md "$stage/share/doc/watchfloor/README.md"
install -Dm644 packaging/debian/copyright "$stage/share/doc/watchfloor/copyright"

# The same bytes for the same commit: sorted names, root-owned, dated at the last commit.
mtime=$(git log -1 --format=%ct 2>/dev/null || date +%s)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" -C "$target/dist" -cf - "$name" \
  | gzip -n -9 >"$stage.tar.gz"
rm -rf "$stage"
echo "$stage.tar.gz"
