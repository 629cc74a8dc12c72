#!/usr/bin/env bash
# Quick start, part one: set everything up, then run the main job (rsimeter observe)
# on the embedded default. Extra arguments go to `rsimeter observe`.
set -uo pipefail
cd "$(dirname "$0")/.."
RSIMETER_NO_BROWSER=1 bash scripts/setup.sh || exit $?
.venv/bin/rsimeter observe "$@"
rc=$?
case $rc in
  0) echo "observe: state ok (exit 0)" ;;
  1) echo "observe: state warning (rsimeter observe exits 1; see the alerts above)" ;;
  2) echo "observe: state critical (rsimeter observe exits 2; see the alerts above)" ;;
  *) echo "observe: the assessment could not be made (exit $rc)"; exit "$rc" ;;
esac
