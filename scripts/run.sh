#!/usr/bin/env bash
# Quick start, part one: set everything up, then run the main job (rsimeter observe)
# on the embedded default. Extra arguments go to `rsimeter observe`.
set -euo pipefail
cd "$(dirname "$0")/.."
RSIMETER_NO_BROWSER=1 bash scripts/setup.sh
exec .venv/bin/rsimeter observe "$@"
