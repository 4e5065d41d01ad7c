#!/usr/bin/env bash
# What the compose checks (tests/deploy) need besides .venv: Debian's docker-compose 1.29.2,
# whose `docker-compose config` parses, interpolates and validates docker-compose.yml without a
# Docker engine. Idempotent and quiet when it is there. Needs root for apt-get (as ./test.sh does
# for poppler-utils); without it, it says what is missing and the docker-compose tests fail.
set -euo pipefail

if command -v docker-compose >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "==> Installing docker-compose (Debian) for the compose checks"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }
else
  echo "compose-deps: docker-compose is missing (apt-get install docker-compose); the compose checks will fail" >&2
fi
