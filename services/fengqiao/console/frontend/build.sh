#!/usr/bin/env bash
# Builds the console's vendored browser files into ../static/vendor/, which are committed:
# Node is needed only to rebuild them (`make vendor` runs `npm ci` first), never at run time.
set -euo pipefail
cd "$(dirname "$0")"
out=../static/vendor
mkdir -p "$out"

cp node_modules/htmx.org/dist/htmx.min.js "$out/htmx.min.js"

# One self-contained IIFE defining window.fengqiaoEditor; no imports left for the browser.
# The licences are collected in LICENSES.txt, so none are repeated in the bundle.
./node_modules/.bin/esbuild editor.mjs --bundle --format=iife --minify --target=es2020 \
  --legal-comments=none --metafile=node_modules/.editor-meta.json \
  --banner:js='/* fengqiao console editor: CodeMirror 6 and its dependencies (MIT); see LICENSES.txt */' \
  --outfile="$out/editor.js" --log-level=warning

node licenses.mjs node_modules/.editor-meta.json htmx.org > "$out/LICENSES.txt"
ls -l "$out"
