#!/usr/bin/env sh
# Installs Watchfloor from this unpacked tarball under a prefix: ./install.sh [--prefix DIR]
# Default prefix: /usr/local as root, else ~/.local. Puts the binary in DIR/bin, the desktop file and icons in
# DIR/share (so menus list it), the docs in DIR/share/doc/watchfloor, and the site recorder's unit and config
# template in DIR/share/watchfloor (with ExecStart pointing at DIR/bin/watchfloor). Setting the recorder up as a
# service is left to you (README, "Install"): it needs a system user, and distributions differ in how they make one.
set -eu
here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" = 0 ]; then prefix=/usr/local; else prefix=${HOME:?}/.local; fi
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    -h|--help) sed -n '2,6s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
case $prefix in /*) ;; *) prefix=$(pwd)/$prefix ;; esac

install -Dm755 "$here/bin/watchfloor" "$prefix/bin/watchfloor"
(cd "$here/share" && find applications icons doc -type f) | while read -r file; do
  install -Dm644 "$here/share/$file" "$prefix/share/$file"
done
install -Dm644 "$here/share/watchfloor/site-recorder.toml" "$prefix/share/watchfloor/site-recorder.toml"
sed "s|^ExecStart=/usr/bin/watchfloor |ExecStart=$prefix/bin/watchfloor |" \
  "$here/share/watchfloor/watchfloor-recorder.service" >"$prefix/share/watchfloor/watchfloor-recorder.service"
chmod 644 "$prefix/share/watchfloor/watchfloor-recorder.service"

echo "Installed Watchfloor $("$prefix/bin/watchfloor" --version | awk '{print $2}') under $prefix"
case :$PATH: in *":$prefix/bin:"*) ;; *) echo "Note: $prefix/bin is not on your PATH" ;; esac
