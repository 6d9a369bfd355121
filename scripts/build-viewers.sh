#!/usr/bin/env bash
# Install the IIIF viewers and Leaflet from npm (package-lock.json pins them) and copy their built bundles
# into archive/static/vendor/, which git ignores. Run from anywhere; needs node and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --ignore-scripts
vendor=archive/static/vendor
rm -rf "$vendor/mirador" "$vendor/uv" "$vendor/leaflet"
mkdir -p "$vendor/mirador" "$vendor/uv" "$vendor/leaflet"
cp node_modules/mirador/dist/mirador.min.js "$vendor/mirador/"
cp node_modules/mirador/LICENSE "$vendor/mirador/"
# UV's UMD build loads its chunks from the folder UV.js was loaded from.
cp -r node_modules/universalviewer/dist/umd "$vendor/uv/umd"
cp node_modules/universalviewer/dist/uv.css node_modules/universalviewer/LICENSE.txt "$vendor/uv/"
# Leaflet for the maps; axe-core stays in node_modules (only the browser tests inject it).
cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css \
  node_modules/leaflet/dist/images node_modules/leaflet/LICENSE "$vendor/leaflet/"
printf '%s\n' "mirador $(node -p "require('./node_modules/mirador/package.json').version")" \
  "universalviewer $(node -p "require('./node_modules/universalviewer/package.json').version")" \
  "leaflet $(node -p "require('./node_modules/leaflet/package.json').version")" \
  > "$vendor/VERSIONS"
echo "viewers copied into $vendor: $(tr '\n' ' ' < "$vendor/VERSIONS")"
