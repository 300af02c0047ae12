#!/usr/bin/env bash
# Copies the pinned browser libraries (package.json / package-lock.json) from the npm registry
# into web/vendor/, with their licences, so the UI serves them from its own origin.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --loglevel=error
out=web/vendor
rm -rf "$out" && mkdir -p "$out"
cp node_modules/marked/lib/marked.esm.js "$out/marked.esm.js"
cp node_modules/marked/LICENSE "$out/marked.LICENSE.txt"
cp node_modules/dompurify/dist/purify.es.mjs "$out/purify.es.js"
cp node_modules/dompurify/LICENSE "$out/dompurify.LICENSE.txt"
cp node_modules/qrcode-generator/dist/qrcode.mjs "$out/qrcode.mjs"
# The package ships its MIT licence as the source file's header (the comment block on top).
awk '/^\/\//{print; next} {exit}' node_modules/qrcode-generator/dist/qrcode.mjs > "$out/qrcode-generator.LICENSE.txt"
node -e 'const p=require("./package-lock.json").packages;
  for (const n of ["marked","dompurify","qrcode-generator"]) console.log(n+"@"+p["node_modules/"+n].version)' > "$out/VERSIONS.txt"
echo "web/vendor: $(tr '\n' ' ' < "$out/VERSIONS.txt")"
