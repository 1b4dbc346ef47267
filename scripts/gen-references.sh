#!/usr/bin/env bash
# Regenerates the ONNX Runtime reference outputs in tests/data/ppocr/ (see tests/data/ppocr/README.md).
#
# Usage: scripts/gen-references.sh [--models DIR] [--out DIR] [--inputs]
#
# Installs onnxruntime-node (pinned below) into .cache/ort/ at the repository root without running its install
# scripts (the package already ships the linux-x64 binary), fetches the models if needed and runs
# scripts/gen-references.js with the same arguments. Needs node and npm.
set -euo pipefail

ORT_VERSION="1.30.0"

die() {
  echo "gen-references: $*" >&2
  exit 1
}

case "${1:-}" in
-h | --help)
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
  ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$root/.cache/ort"

command -v node >/dev/null 2>&1 || die "node not found; install Node.js (Debian: apt-get install nodejs)"
command -v npm >/dev/null 2>&1 || die "npm not found (Debian: apt-get install npm)"

installed=""
if [ -f "$cache/node_modules/onnxruntime-node/package.json" ]; then
  installed="$(node -p "require('$cache/node_modules/onnxruntime-node/package.json').version")"
fi
if [ "$installed" != "$ORT_VERSION" ]; then
  echo "gen-references: installing onnxruntime-node@$ORT_VERSION into $cache"
  mkdir -p "$cache"
  npm install --ignore-scripts --no-save --no-audit --no-fund --silent --prefix "$cache" \
    "onnxruntime-node@$ORT_VERSION" || die "npm install onnxruntime-node@$ORT_VERSION failed"
fi

# The default models folder is fetched on demand; an explicit --models DIR must already hold them.
models_given=0
for a in "$@"; do
  [ "$a" = "--models" ] && models_given=1
done
if [ "$models_given" -eq 0 ]; then
  "$root/scripts/fetch-models.sh" "$root/models"
fi

NODE_PATH="$cache/node_modules" exec node "$root/scripts/gen-references.js" "$@"
