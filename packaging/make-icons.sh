#!/usr/bin/env bash
# Renders icons/watchfloor.svg into the hicolor theme's PNG sizes under icons/hicolor/, which are committed so that
# building a package needs no SVG renderer. Run it again only when the SVG changes (needs rsvg-convert, from
# librsvg2-bin on Debian and Ubuntu): bash packaging/make-icons.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for size in 16 24 32 48 64 128 256 512; do
  mkdir -p "icons/hicolor/${size}x${size}/apps"
  rsvg-convert --width "$size" --height "$size" icons/watchfloor.svg -o "icons/hicolor/${size}x${size}/apps/watchfloor.png"
done
