#!/usr/bin/env bash
# Run the product on its embedded default. Sets up .venv/ first if needed.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup-venv.sh
exec .venv/bin/python -m statutory_clock.demo "$@"
