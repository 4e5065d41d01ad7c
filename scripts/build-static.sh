#!/usr/bin/env bash
# Bundle GOV.UK Frontend (npm, pinned in ui/package-lock.json) into the programme manager's
# page: include/statclock_airflow/ui/static/govuk/ (gitignored; built here, never fetched from a
# CDN). Copies the compiled CSS only: the pages need no JavaScript. The GDS Transport font and
# the crown are Crown copyright, for GOV.UK services only, so they are left out: the @font-face
# rules are removed from the copied CSS and "GDS Transport" is dropped from every font stack,
# leaving the system fonts (arial, sans-serif) the stack already falls back to.
#
# Idempotent and quick when up to date: npm ci runs only when ui/package-lock.json changed (or
# node_modules is missing), the copy only when its stamp differs.
set -euo pipefail
cd "$(dirname "$0")/.."

ui=ui
out=include/statclock_airflow/ui/static/govuk
stamp="$out/.built-from"
lock="$ui/package-lock.json"
wanted="$( (cat "$lock"; cat "$0") | sha256sum | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" && -f "$out/govuk-frontend.min.css" ]]; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "==> Installing npm (Debian) to bundle GOV.UK Frontend"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "build-static: npm is needed to bundle GOV.UK Frontend (apt-get install npm)" >&2
  exit 1
fi

installed="$ui/node_modules/.statclock-lock"
if [[ "$(cat "$installed" 2>/dev/null)" != "$(sha256sum "$lock" | cut -d' ' -f1)" ]]; then
  echo "==> Installing GOV.UK Frontend (npm ci, pinned by $lock)"
  (cd "$ui" && npm ci --no-audit --no-fund --loglevel=error)
  sha256sum "$lock" | cut -d' ' -f1 > "$installed"
fi

dist="$ui/node_modules/govuk-frontend/dist/govuk"
version="$(node -p "require('./$ui/node_modules/govuk-frontend/package.json').version")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/images"
# No @font-face (nothing fetches the GDS fonts), no "GDS Transport" in the font stacks, and the
# source map comment dropped (the map is not shipped).
sed -e 's/@font-face{[^}]*}//g' \
    -e 's/"GDS Transport",//g; s/GDS Transport,//g' \
    -e 's#/\*\# sourceMappingURL=[^*]*\*/##' \
    "$dist/govuk-frontend.min.css" > "$tmp/govuk-frontend.min.css"
if grep -q "GDS Transport" "$tmp/govuk-frontend.min.css"; then
  echo "build-static: GDS Transport is still named in the CSS of govuk-frontend $version" >&2
  exit 1
fi
cp "$dist/assets/images/favicon.ico" "$dist/assets/images/favicon.svg" "$tmp/images/"
cp "$ui/node_modules/govuk-frontend/LICENSE.txt" "$tmp/LICENSE.txt" 2>/dev/null || true
echo "$version" > "$tmp/VERSION"
echo "$wanted" > "$tmp/.built-from"

rm -rf "$out"
mkdir -p "$(dirname "$out")"
mv "$tmp" "$out"
trap - EXIT
chmod -R a+rX "$out"
echo "==> GOV.UK Frontend $version bundled into $out"
