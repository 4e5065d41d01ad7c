#!/usr/bin/env bash
# What the browser tests (tests/e2e) need besides .venv: Debian's Chromium, which Playwright
# drives with executable_path (no `playwright install`: no browser download), and axe-core from
# npm (pinned in tests/e2e/package-lock.json), which the tests inject into each page.
# Idempotent and quiet when everything is there. Needs root for apt-get (as ./test.sh does for
# poppler-utils); without it, it says what is missing and the e2e tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}

if [[ ! -x /usr/bin/chromium ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "==> Installing chromium (Debian) for the browser tests"
    apt_install chromium
  else
    echo "e2e-deps: /usr/bin/chromium is missing (apt-get install chromium); browser tests will skip" >&2
  fi
fi

if ! command -v npm >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "==> Installing npm (Debian) for axe-core"
    apt_install npm
  else
    echo "e2e-deps: npm is missing; the accessibility checks will skip" >&2
    exit 0
  fi
fi

lock=tests/e2e/package-lock.json
stamp=tests/e2e/node_modules/.statclock-installed
wanted="$(sha256sum "$lock" | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" || ! -f tests/e2e/node_modules/axe-core/axe.min.js ]]; then
  echo "==> npm ci (axe-core for the browser tests)"
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$wanted" > "$stamp"
fi
