#!/usr/bin/env bash
# Quick start, part two: set everything up, then run the checks and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
ruff check src tests benchmarks
ruff format --check src tests benchmarks
mypy
pytest -n 2 --dist loadfile "$@"
